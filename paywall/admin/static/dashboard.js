/* The paywall dashboard's charts: each <figure class="chart" data-chart="ID"> is drawn
   with uPlot from the spec of that id in the page's JSON island (#paywall-charts).
   X axes are categories (days, sections, offers, limits); the spec says line or bars,
   the unit of the y axis, a log scale, a category to mark, and intervals to draw as
   bands. No inline script: the page's Content-Security-Policy allows only this file
   and uPlot. */
(function () {
  "use strict";

  var island = document.getElementById("paywall-charts");
  if (!island || typeof uPlot === "undefined") {
    return;
  }
  var specs = {};
  JSON.parse(island.textContent).charts.forEach(function (spec) {
    specs[spec.id] = spec;
  });

  function chartHeight() {
    return window.innerWidth < 640 ? 200 : 250;
  }

  function format(value, unit) {
    if (value == null) {
      return "";
    }
    if (unit === "%") {
      return (Math.abs(value) < 10 ? value.toFixed(1) : value.toFixed(0)) + " %";
    }
    var text;
    if (Math.abs(value) >= 1e6) {
      text = (value / 1e6).toFixed(1) + "M";
    } else if (Math.abs(value) >= 1e4) {
      text = (value / 1e3).toFixed(0) + "k";
    } else {
      text = Number.isInteger(value) ? String(value) : value.toFixed(1);
    }
    return unit ? text + " " + unit : text;
  }

  function alpha(hex, opacity) {
    var n = parseInt(hex.slice(1), 16);
    return "rgba(" + (n >> 16) + "," + ((n >> 8) & 255) + "," + (n & 255) + "," + opacity + ")";
  }

  function seriesOptions(spec, series, index) {
    var options = {
      label: series.label,
      stroke: series.color,
      width: 2,
      value: function (u, v) {
        return format(v, spec.unit);
      },
    };
    if (spec.kind === "bars") {
      // Nested bars: the first series widest, each next one narrower, in front.
      var share = Math.max(0.25, 0.8 - index * 0.22);
      options.fill = alpha(series.color, 0.75);
      options.width = 1;
      options.paths = uPlot.paths.bars({ size: [share, 80], align: 0 });
      options.points = { show: false };
    } else {
      options.points = { show: spec.labels.length <= 45, size: 5 };
      if (series.dash) {
        options.dash = [6, 5];
      }
    }
    return options;
  }

  function markerHook(index) {
    return function (u) {
      var x = u.valToPos(index, "x", true);
      var ctx = u.ctx;
      ctx.save();
      ctx.strokeStyle = "#6b7280";
      ctx.lineWidth = 1.5 * uPlot.pxRatio;
      ctx.setLineDash([4 * uPlot.pxRatio, 4 * uPlot.pxRatio]);
      ctx.beginPath();
      ctx.moveTo(x, u.bbox.top);
      ctx.lineTo(x, u.bbox.top + u.bbox.height);
      ctx.stroke();
      ctx.restore();
    };
  }

  var COUNT_STEPS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5,
    2e5, 5e5, 1e6, 2e6, 5e6, 1e7];

  // Days are many and alike: every n-th is labelled. Other categories (sections,
  // offers, limits) are all labelled, slanted when they do not fit side by side.
  function slanted(spec, width) {
    if (spec.x === "Day") {
      return false;
    }
    var longest = spec.labels.reduce(function (most, label) {
      return Math.max(most, String(label).length);
    }, 1);
    return spec.labels.length * (longest * 7 + 12) > width - 80;
  }

  function options(spec, width) {
    var count = spec.labels.length;
    var xs = spec.labels.map(function (_, i) {
      return i;
    });
    var slant = slanted(spec, width);
    var yScale = spec.log
      ? {
          distr: 3,
          range: function (u, min, max) {
            // From 1, so that a small count still shows as a bar.
            return [1, Math.pow(10, Math.ceil(Math.log10(Math.max(max, 1) * 1.5)))];
          },
        }
      : {
          range: function (u, min, max) {
            return [0, max > 0 ? max * 1.08 : 1];
          },
        };
    var yAxis = {
      size: 64,
      values: function (u, splits) {
        return splits.map(function (v) {
          return format(v, spec.unit);
        });
      },
    };
    if (!spec.log && spec.unit === "") {
      yAxis.incrs = COUNT_STEPS; // counts: whole numbers on the axis
    }
    var xAxis = {
      splits: function (u) {
        if (spec.x !== "Day") {
          return xs;
        }
        var room = Math.max(1, Math.floor(u.bbox.width / uPlot.pxRatio / 64));
        var step = Math.max(1, Math.ceil(count / room));
        return xs.filter(function (i) {
          return i % step === 0;
        });
      },
      values: function (u, splits) {
        return splits.map(function (v) {
          return spec.labels[v] == null ? "" : spec.labels[v];
        });
      },
      grid: { show: false },
    };
    if (slant) {
      xAxis.rotate = -40;
      xAxis.size = 80;
    }
    return {
      width: width,
      height: chartHeight(),
      scales: { x: { time: false, range: [-0.5, Math.max(count - 0.5, 0.5)] }, y: yScale },
      cursor: { points: { show: spec.kind !== "bars" } },
      axes: [xAxis, yAxis],
      series: [
        {
          label: spec.x,
          value: function (u, v) {
            return v == null ? "" : spec.labels[v];
          },
        },
      ]
        .concat(
          spec.series.map(function (s, i) {
            return seriesOptions(spec, s, i);
          })
        )
        .concat(bandSeries(spec)),
      bands: bands(spec),
      hooks: spec.marker == null ? {} : { draw: [markerHook(spec.marker)] },
    };
  }

  // A series with a "band" ({low, high}: an interval per x) gets two thin series after
  // all the others, and the area between them filled in its colour.
  function banded(spec) {
    return spec.series.filter(function (s) {
      return s.band;
    });
  }

  function bandSeries(spec) {
    var found = [];
    banded(spec).forEach(function (s) {
      ["high", "low"].forEach(function (edge) {
        found.push({
          label: s.label + " (95 % " + edge + ")",
          stroke: alpha(s.color, 0.45),
          width: 1,
          points: { show: false },
          value: function (u, v) {
            return format(v, spec.unit);
          },
        });
      });
    });
    return found;
  }

  function bands(spec) {
    var first = spec.series.length + 1;
    return banded(spec).map(function (s, k) {
      return { series: [first + 2 * k, first + 2 * k + 1], fill: alpha(s.color, 0.15) };
    });
  }

  function hideBandLegends(chart, spec) {
    var rows = chart.root.querySelectorAll(".u-legend .u-series");
    for (var i = spec.series.length + 1; i < rows.length; i++) {
      rows[i].classList.add("paywall-band");
    }
  }

  function bandData(spec) {
    var found = [];
    banded(spec).forEach(function (s) {
      found.push(s.band.high, s.band.low);
    });
    return found;
  }

  function draw(figure, spec) {
    var plot = figure.querySelector(".plot");
    var data = [
      spec.labels.map(function (_, i) {
        return i;
      }),
    ]
      .concat(
        spec.series.map(function (s) {
          return s.values;
        })
      )
      .concat(bandData(spec));
    var width = Math.max(plot.clientWidth, 240);
    var chart = new uPlot(options(spec, width), data, plot);
    var slant = slanted(spec, width);
    var points = 0;
    spec.series.forEach(function (s) {
      s.values.forEach(function (v) {
        if (v != null) {
          points += 1;
        }
      });
    });
    hideBandLegends(chart, spec);
    figure.dataset.points = String(points);
    figure.dataset.drawn = "true";
    if (typeof ResizeObserver !== "undefined") {
      new ResizeObserver(function () {
        var now = Math.max(plot.clientWidth, 240);
        if (now === chart.width) {
          return;
        }
        if (slanted(spec, now) !== slant) {
          // The labels' slant is fixed when a chart is made: make it again.
          slant = !slant;
          chart.destroy();
          chart = new uPlot(options(spec, now), data, plot);
          hideBandLegends(chart, spec);
        } else {
          chart.setSize({ width: now, height: chartHeight() });
        }
      }).observe(plot);
    }
  }

  document.querySelectorAll("figure.chart[data-chart]").forEach(function (figure) {
    var spec = specs[figure.dataset.chart];
    if (spec) {
      draw(figure, spec);
    }
  });
})();
