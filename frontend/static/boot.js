// Starts the dashboard. A file rather than an inline script, so that the
// Content-Security-Policy needs no 'unsafe-inline' for scripts.
import init from '/frontend.js';
init();
