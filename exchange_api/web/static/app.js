// The console's entry module: client-side routing between views, the sign-in button, notices.

import { session } from "./api.js";
import { clear, errorState, h, shortHex } from "./dom.js";
import { signIn, signOut, watchAccounts } from "./wallet.js";

const PREFIX = document.body.dataset.prefix || "/console";

const ROUTES = [
  [/^$/, "catalog", () => import("./pages/catalog.js")],
  [/^(datasets|algorithms)\/(\d+)$/, "catalog", () => import("./pages/listing.js")],
  [/^seller$/, "seller", () => import("./pages/seller.js")],
  [/^jobs$/, "jobs", () => import("./pages/jobs.js")],
  [/^buy$/, "buy", () => import("./pages/buy.js")],
  [/^jobs\/(\d+)$/, "jobs", () => import("./pages/job.js")],
  [/^earnings$/, "earnings", () => import("./pages/earnings.js")],
  [/^members$/, "members", () => import("./pages/members.js")],
  [/^audit$/, "audit", () => import("./pages/audit.js")],
  [/^trust$/, "trust", () => import("./pages/trust.js")],
  [/^audit\/jobs\/(\d+)$/, "audit", () => import("./pages/trail.js")],
  [/^audit\/datasets\/(\d+)$/, "audit", () => import("./pages/usage.js")],
];

let cleanup = null;

export function link(path, ...children) {
  return h("a", { href: `${PREFIX}/${path}`, "data-nav": true }, ...children);
}

let noticeTimer = null;

export function notify(message, kind = "info") {
  const el = document.getElementById("notice");
  clearTimeout(noticeTimer);
  el.textContent = message;
  el.className = `notice notice-${kind}`;
  el.hidden = !message;
  // Good news fades; errors stay until the next action replaces them.
  if (kind === "ok") noticeTimer = setTimeout(() => { el.hidden = true; }, 4000);
}

export function navigate(path) {
  history.pushState({}, "", `${PREFIX}/${path}`);
  render();
}

function currentPath() {
  const p = location.pathname.startsWith(PREFIX) ? location.pathname.slice(PREFIX.length) : location.pathname;
  return p.replace(/^\/+|\/+$/g, "");
}

let generation = 0;

async function render() {
  if (cleanup) {
    cleanup();
    cleanup = null;
  }
  const main = document.getElementById("main");
  const path = currentPath();
  const match = ROUTES.map(([re, section, load]) => [path.match(re), section, load]).find(([m]) => m);
  for (const a of document.querySelectorAll("nav [data-section]")) {
    if (match && a.dataset.section === match[1]) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  clear(main);
  if (!match) {
    main.append(h("h1", {}, "Page not found"), h("p", {}, "No console page lives at ", h("code", {}, path), "."),
      link("", "Back to the catalog"));
    return;
  }
  const [m, , load] = match;
  // Renders overlap (signing in while a page still loads starts another): each draws into its own view, and a
  // newer render removes the older one's, so a late page can never add a second copy of itself.
  const mine = ++generation;
  const view = h("div", { class: "view" });
  main.append(view);
  main.setAttribute("aria-busy", "true");
  try {
    const page = await load();
    const done = await page.render(view, m.slice(1), { link, navigate, notify, session });
    if (typeof done === "function") {
      if (mine === generation) cleanup = done;
      else done();
    }
  } catch (err) {
    console.error(err);
    view.append(errorState(err));
  } finally {
    if (mine === generation) main.removeAttribute("aria-busy");
  }
  const heading = main.querySelector("h1");
  if (heading) document.title = `${heading.textContent} · Data Exchange`;
}

function renderAccount() {
  const box = document.getElementById("account");
  clear(box);
  if (session.token) {
    box.append(
      h("span", { class: "who", id: "signed-in-as", title: session.address }, "Signed in as ", h("code", {}, shortHex(session.address, 4))),
      h("button", { type: "button", class: "button button-quiet", id: "sign-out", onclick: () => signOut() }, "Sign out"),
    );
  } else {
    box.append(h("button", {
      type: "button", class: "button", id: "sign-in",
      onclick: async (ev) => {
        ev.target.disabled = true;
        notify("Waiting for your wallet…");
        try {
          await signIn();
          notify("Signed in.", "ok");
        } catch (err) {
          notify(err.message, "error");
        } finally {
          ev.target.disabled = false;
        }
      },
    }, "Sign in with Ethereum"));
  }
}

document.addEventListener("click", (ev) => {
  const a = ev.target.closest && ev.target.closest("a[data-nav]");
  if (!a || ev.ctrlKey || ev.metaKey || ev.shiftKey || ev.button !== 0) return;
  ev.preventDefault();
  history.pushState({}, "", a.getAttribute("href"));
  render();
  document.getElementById("main").focus();
});
window.addEventListener("popstate", render);
document.addEventListener("dx:signed-in", () => {
  renderAccount();
  render();
});
document.addEventListener("dx:signed-out", () => {
  renderAccount();
  render();
});

watchAccounts((account) => notify(account ? `Your wallet switched to ${account}: sign in again to act as it.`
  : "Your wallet disconnected: signed out.", "info"));
renderAccount();
render();
