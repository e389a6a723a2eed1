// Render every chart on the page from the specs embedded in it (no network needed).
// Each chart element says whether it rendered (data-rendered), and the body says when
// all have finished (data-charts-ready), so people and tests can tell.
(function () {
  "use strict";
  var holder = document.getElementById("chart-specs");
  var specs = holder ? JSON.parse(holder.textContent) : {};
  var options = { actions: false, renderer: "svg" };
  var elements = Array.prototype.slice.call(document.querySelectorAll("[data-chart]"));
  var jobs = elements.map(function (el) {
    var spec = specs[el.getAttribute("data-chart")];
    if (!spec) {
      el.setAttribute("data-rendered", "error");
      console.error("no chart spec named " + el.getAttribute("data-chart"));
      return Promise.resolve();
    }
    return vegaEmbed(el, spec, options)
      .then(function () {
        el.setAttribute("data-rendered", "true");
      })
      .catch(function (err) {
        el.setAttribute("data-rendered", "error");
        console.error("chart " + el.getAttribute("data-chart") + ": " + err);
      });
  });
  Promise.all(jobs).then(function () {
    document.body.setAttribute("data-charts-ready", "true");
  });
})();
