// Boosted navigation (htmx, shared/templates/base.html) stays inside one app.
//
// htmx decides a link is "local" by host name alone, so in development (every app on
// 127.0.0.1, one port each) a link to another app would be boosted and then refused as a
// cross-origin request: a dead link. Links and forms to another origin, and sign-in and
// sign-out (/auth/..., which leave through federation), are made plain navigations before
// htmx looks at them. So are downloads and feeds (a `download` attribute, or an address
// ending in .ics, .csv, .xml, ...): they are not pages, and swapping one into #content would
// blank it. (The server answers a boosted request for something that is not a page with
// HX-Redirect as well: shared/infrastructure/factory.py.)
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
})();
