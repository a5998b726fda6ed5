"""Browser tests of the web console: headless Chromium via Playwright."""
