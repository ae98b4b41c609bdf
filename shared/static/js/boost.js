// Boosted navigation (htmx, shared/templates/base.html) stays inside one app.
//
// htmx decides a link is "local" by host name alone, so in development (every app on
// 127.0.0.1, one port each) a link to another app would be boosted and then refused as a
// cross-origin request: a dead link. Links and forms to another origin, and sign-in and
// sign-out (/auth/..., which leave through federation), are made plain navigations before
// htmx looks at them. So are downloads and feeds (a `download` attribute, or an address
// ending in .ics, .csv, .xml, ...): they are not pages, and swapping one into #content would
// blank it. (The server answers a boosted request for something that is not a page with
// HX-Redirect as well: shared/infrastructure/factory.py.) It also restores the scroll position
// on Back and keeps the header's menu tidy (below).
(function () {
  "use strict";
  var NOT_A_PAGE = /\.(ics|csv|xml|json|txt|pdf|zip|png|jpe?g|svg|webp)$/i;
  function leavesTheApp(url) {
    var target = new URL(url, window.location.href);
    return target.origin !== window.location.origin || target.pathname.indexOf("/auth/") === 0;
  }
  function notAPage(elt, url) {
    return elt.hasAttribute("download") || NOT_A_PAGE.test(new URL(url, window.location.href).pathname);
  }
  document.addEventListener("htmx:beforeProcessNode", function (event) {
    var elt = event.target;
    var url = null;
    if (elt instanceof HTMLAnchorElement && elt.hasAttribute("href")) {
      url = elt.getAttribute("href");
    } else if (elt instanceof HTMLFormElement) {
      url = elt.getAttribute("action") || window.location.href;
    }
    if (url === null || url.charAt(0) === "#") return;
    if (leavesTheApp(url) || (elt instanceof HTMLAnchorElement && notAPage(elt, url))) {
      elt.setAttribute("hx-boost", "false");
    }
  });

  // Back and Forward: htmx asks the server for the page again (nothing is kept in the
  // browser) and would show it from the top. Where the reader was on each address is
  // remembered for this tab's life (in memory only) and restored once the page is back.
  var positions = {};
  document.addEventListener("htmx:beforeHistorySave", function (event) {
    positions[event.detail.path] = window.scrollY;
  });
  document.addEventListener("htmx:historyRestore", function (event) {
    var y = positions[event.detail.path];
    if (typeof y === "number") {
      window.requestAnimationFrame(function () { window.scrollTo(0, y); });
    }
  });
  // The header's menu: the panel closes once a link in it was followed (the header stays
  // in place through boosted navigation). Wide screens show its contents in the header row
  // through ::details-content; where a browser does not know that, the menu is opened there.
  var WIDE = window.matchMedia("(min-width: 60rem)");
  function menu() { return document.querySelector("details.site-menu"); }
  function fitMenu() {
    var details = menu();
    if (details && !CSS.supports("selector(::details-content)")) details.open = WIDE.matches;
  }
  document.addEventListener("htmx:beforeRequest", function (event) {
    var details = menu();
    if (details && !WIDE.matches && details.contains(event.detail.elt)) details.open = false;
  });
  document.addEventListener("DOMContentLoaded", fitMenu);
  if (WIDE.addEventListener) WIDE.addEventListener("change", fitMenu);
})();
