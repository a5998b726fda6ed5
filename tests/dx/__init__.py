"""Tests of the dx command line, its data generator and its stack supervisor."""
