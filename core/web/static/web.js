// The little script crm-sync's pages use: self-refreshing regions and "select all" boxes.
// Everything works without it; it only saves reloading a page by hand.
"use strict";

(function () {
  // A region marked data-refresh="SECONDS" is fetched again every SECONDS while the tab
  // is visible, and replaced by the region with the same id in the answer. A hidden tab
  // stops refreshing; showing it again refreshes at once.
  function refresher(region) {
    var seconds = Number(region.getAttribute("data-refresh"));
    if (!region.id || !(seconds >= 1)) {
      return;
    }
    var timer = null;
    var busy = false;
    var finished = false;
    function load() {
      if (busy || finished || document.visibilityState !== "visible") {
        return;
      }
      busy = true;
      var url = region.getAttribute("data-refresh-url") || window.location.href;
      fetch(url, { credentials: "same-origin", headers: { "X-Refresh": "1" } })
        .then(function (response) {
          if (!response.ok) {
            throw new Error(String(response.status));
          }
          return response.text();
        })
        .then(function (html) {
          var page = new DOMParser().parseFromString(html, "text/html");
          var fresh = page.getElementById(region.id);
          if (fresh) {
            region.replaceChildren.apply(region, Array.from(fresh.childNodes));
            Array.from(fresh.attributes).forEach(function (attribute) {
              if (attribute.name.indexOf("data-") === 0) {
                region.setAttribute(attribute.name, attribute.value);
              }
            });
            region.setAttribute("data-refreshed", String(Date.now()));
            if (!fresh.hasAttribute("data-refresh")) {
              // The region says it is final (a finished job): stop asking.
              region.removeAttribute("data-refresh");
              stop();
              finished = true;
            }
          }
        })
        .catch(function () {
          region.setAttribute("data-refresh-failed", String(Date.now()));
        })
        .finally(function () {
          busy = false;
        });
    }
    function start() {
      stop();
      if (finished) {
        return;
      }
      timer = window.setInterval(load, seconds * 1000);
    }
    function stop() {
      if (timer !== null) {
        window.clearInterval(timer);
        timer = null;
      }
    }
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "visible") {
        load();
        start();
      } else {
        stop();
      }
    });
    if (document.visibilityState === "visible") {
      start();
    }
  }

  // A checkbox marked data-select-all ticks or clears every box named "key" in its form.
  function selectAll(box) {
    box.addEventListener("change", function () {
      var form = box.form;
      if (!form) {
        return;
      }
      form.querySelectorAll('input[type="checkbox"][name="key"]').forEach(function (item) {
        item.checked = box.checked;
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-refresh]").forEach(refresher);
    document.querySelectorAll("input[data-select-all]").forEach(selectAll);
  });
})();
