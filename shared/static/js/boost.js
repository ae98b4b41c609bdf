// Boosted navigation (htmx, shared/templates/base.html) stays inside one app.
//
// htmx decides a link is "local" by host name alone, so in development (every app on
// 127.0.0.1, one port each) a link to another app would be boosted and then refused as a
// cross-origin request: a dead link. Links and forms to another origin, and sign-in and
// sign-out (/auth/..., which leave through federation), are made plain navigations before
// htmx looks at them.
(function () {
  "use strict";
  function leavesTheApp(url) {
    var target = new URL(url, window.location.href);
    return target.origin !== window.location.origin || target.pathname.indexOf("/auth/") === 0;
  }
  document.addEventListener("htmx:beforeProcessNode", function (event) {
    var elt = event.target;
    var url = null;
    if (elt instanceof HTMLAnchorElement && elt.hasAttribute("href")) {
      url = elt.getAttribute("href");
    } else if (elt instanceof HTMLFormElement) {
      url = elt.getAttribute("action") || window.location.href;
    }
    if (url !== null && url.charAt(0) !== "#" && leavesTheApp(url)) {
      elt.setAttribute("hx-boost", "false");
    }
  });
})();
