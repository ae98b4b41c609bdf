// Ghost's cards in the blog's posts (shared/infrastructure/cards.py stores them).
//
// An embedded player (<div class="kg-embed-player" data-embed-src>) is a link to the
// provider's page until the reader clicks it: only then is the player's sandboxed frame made,
// so nothing is loaded from the provider before. The blog's Content-Security-Policy frames
// only the allow-listed players (frame-src), whatever a data attribute says.
//
// A gallery's images share a row in proportion to their shapes (their width and height
// attributes), as in Ghost's themes; without this script they share it equally.
(function () {
  "use strict";

  function play(box) {
    var src = box.getAttribute("data-embed-src");
    var link = box.querySelector("a");
    if (!src || src.indexOf("https://") !== 0) {
      return false;
    }
    var frame = document.createElement("iframe");
    frame.src = src + (src.indexOf("?") === -1 ? "?" : "&") + "autoplay=1";
    frame.title = link ? link.textContent.trim() : "Embedded player";
    frame.setAttribute(
      "sandbox",
      "allow-scripts allow-same-origin allow-presentation allow-popups allow-popups-to-escape-sandbox"
    );
    frame.setAttribute("allow", "autoplay; encrypted-media; fullscreen; picture-in-picture");
    frame.setAttribute("allowfullscreen", "");
    frame.setAttribute("referrerpolicy", "strict-origin-when-cross-origin");
    box.replaceChildren(frame);
    box.classList.add("kg-embed-playing");
    frame.focus();
    return true;
  }

  document.addEventListener("click", function (event) {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) {
      return;
    }
    var link = event.target instanceof Element ? event.target.closest(".kg-embed-player a") : null;
    if (link && play(link.parentElement)) {
      event.preventDefault();
    }
  });

  function shapeGalleries(root) {
    root.querySelectorAll(".kg-gallery-image img[width][height]").forEach(function (img) {
      var ratio = Number(img.getAttribute("width")) / Number(img.getAttribute("height"));
      if (ratio > 0 && isFinite(ratio)) {
        img.parentElement.style.flex = ratio + " 1 0%";
      }
    });
  }

  // Only now may a poster say it plays here: without this script its link leaves for the provider.
  document.documentElement.classList.add("kg-players");
  document.addEventListener("DOMContentLoaded", function () { shapeGalleries(document); });
  // Boosted navigation (htmx) swaps #content in without loading the page again.
  document.addEventListener("htmx:afterSettle", function (event) { shapeGalleries(event.target); });
})();
