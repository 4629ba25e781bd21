#ifndef LOWDIM_TOOLS_JL_PLOT_HPP
#define LOWDIM_TOOLS_JL_PLOT_HPP

// The SVG picture of `lowdim jl` (private to the CLI). Two panels sharing a
// log₂ k axis:
//   top     the squared-distance ratio per (kind, k): box = 5–95 % of the
//           pairs, whiskers = 1–99 %, a line at the median, dots at min/max;
//           the ±ε band shaded; the worst-case JL guarantee 1 ± ε(k) dashed
//           where it exists, and the JL bound min_dim(n, ε) marked on the k axis.
//   bottom  the fraction of pairs within ±ε per kind (lines), with the target.

#include <lowdim/io.hpp>
#include <lowdim/jl.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace lowdim::cli {

struct JlPlotInfo {
  std::string input_name;
  double target_fraction = 0;  // 0: no target line
  /// The smallest k reaching the target, per kind (marked on the target line).
  std::vector<std::pair<SketchKind, std::int64_t>> smallest = {};
};

inline std::string xml_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

inline const char* kind_colour(SketchKind kind) {
  // The tab10 palette, by the kind's position in the registry.
  static constexpr const char* palette[] = {"#1f77b4", "#9467bd", "#ff7f0e", "#2ca02c", "#d62728",
                                            "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  const auto kinds = sketch_kinds();
  for (std::size_t i = 0; i < kinds.size(); ++i)
    if (kinds[i] == kind) return palette[i % std::size(palette)];
  return "#444444";
}

/// Writes the picture atomically to path.
inline void write_jl_plot(const std::string& path, const DistortionReport& report, const JlPlotInfo& info) {
  // Layout.
  const double width = 1000, height = 700;
  const double left = 80, right = 210, top = 70;
  const double panel1_h = 380, gap = 70, panel2_h = 130;
  const double plot_w = width - left - right;
  const double top2 = top + panel1_h + gap;

  std::vector<SketchKind> kinds;
  std::vector<std::int64_t> dims;
  for (const auto& r : report.results) {
    if (std::find(kinds.begin(), kinds.end(), r.kind) == kinds.end()) kinds.push_back(r.kind);
    if (std::find(dims.begin(), dims.end(), r.k) == dims.end()) dims.push_back(r.k);
  }
  std::sort(dims.begin(), dims.end());
  if (dims.empty()) dims.push_back(1);

  // x: log₂ k. The JL bound is drawn on the axis when it is within 4× of the
  // largest k, otherwise as an arrow at the right edge.
  double x_lo = std::log2(double(dims.front())) - 0.6, x_hi = std::log2(double(dims.back())) + 0.6;
  const double bound_log = std::log2(double(std::max<std::int64_t>(report.min_dim_bound, 1)));
  const bool bound_on_axis = report.min_dim_bound <= 4 * dims.back();
  if (bound_on_axis) x_hi = std::max(x_hi, bound_log + 0.4);
  const auto xpos = [&](double log_k) { return left + (log_k - x_lo) / (x_hi - x_lo) * plot_w; };

  // Worst-case guarantee ε(k), where it exists (k > 24 ln n), on a fine grid of k.
  std::map<std::int64_t, double> guarantee;
  for (int i = 0; i <= 80; ++i) {
    const auto k = static_cast<std::int64_t>(std::llround(std::exp2(x_lo + (x_hi - x_lo) * i / 80.0)));
    if (k < 1) continue;
    try {
      guarantee[k] = guaranteed_eps(k, report.n_points);
    } catch (const invalid_argument&) {
    }
  }
  // y range: the 1–99 % whiskers, the ε band, clipped to [0, 3]; guarantees are clipped at the edge.
  double y_lo = 1 - report.eps, y_hi = 1 + report.eps;
  for (const auto& r : report.results) {
    y_lo = std::min(y_lo, r.q01);
    y_hi = std::max(y_hi, r.q99);
  }
  const double pad = 0.06 * (y_hi - y_lo);
  y_lo = std::max(0.0, y_lo - pad);
  y_hi = std::min(3.0, y_hi + pad);
  const auto ypos = [&](double v) {
    v = std::clamp(v, y_lo, y_hi);
    return top + (y_hi - v) / (y_hi - y_lo) * panel1_h;
  };
  const auto ypos2 = [&](double f) { return top2 + (1 - f) * panel2_h; };

  std::string svg;
  const auto add = [&](const std::string& s) { svg += s; svg += '\n'; };
  add(fmt::format(R"svg(<svg xmlns="http://www.w3.org/2000/svg" width="{0}" height="{1}" viewBox="0 0 {0} {1}" )svg"
                  R"svg(font-family="DejaVu Sans, Arial, sans-serif" font-size="12">)svg",
                  width, height));
  add(fmt::format(R"svg(<rect width="{}" height="{}" fill="white"/>)svg", width, height));
  add(fmt::format(R"svg(<text x="{}" y="24" font-size="16" font-weight="bold">Johnson–Lindenstrauss distortion: {}</text>)svg",
                  left, xml_escape(info.input_name)));
  add(fmt::format(R"svg(<text x="{}" y="44" fill="#333">n = {} points, d = {}, {} random pairs{}; ratio = ‖f(x) − f(y)‖² / ‖x − y‖² (1 = distance kept)</text>)svg",
                  left, report.n_points, report.dim, report.pairs,
                  report.zero_distance_pairs > 0 ? fmt::format(" ({} at distance 0 skipped)svg", report.zero_distance_pairs)
                                                 : std::string()));

  // ---- panel 1 ----
  add(fmt::format(R"svg(<clipPath id="p1"><rect x="{}" y="{}" width="{}" height="{}"/></clipPath>)svg", left, top, plot_w,
                  panel1_h));
  // ε band.
  add(fmt::format(R"svg(<rect x="{}" y="{}" width="{}" height="{}" fill="#d9f2d9"/>)svg", left, ypos(1 + report.eps), plot_w,
                  ypos(1 - report.eps) - ypos(1 + report.eps)));
  // y grid and ticks.
  const double span = y_hi - y_lo;
  const double step = span > 1.5 ? 0.5 : span > 0.6 ? 0.2 : span > 0.3 ? 0.1 : 0.05;
  for (double v = std::ceil(y_lo / step) * step; v <= y_hi + 1e-9; v += step) {
    add(fmt::format(R"svg(<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" stroke="#e6e6e6"/>)svg", left, left + plot_w, ypos(v),
                    ypos(v)));
    add(fmt::format(R"svg(<text x="{}" y="{:.1f}" text-anchor="end" dominant-baseline="middle">{:.2f}</text>)svg", left - 6,
                    ypos(v), v));
  }
  add(fmt::format(R"svg(<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" stroke="#555" stroke-dasharray="2,3"/>)svg", left,
                  left + plot_w, ypos(1), ypos(1)));
  // JL guarantee curves.
  if (!guarantee.empty()) {
    for (int sign : {+1, -1}) {
      std::string points;
      for (const auto& [k, e] : guarantee)
        points += fmt::format("{:.1f},{:.1f} ", xpos(std::log2(double(k))), ypos(1 + sign * e));
      add(fmt::format(R"svg(<polyline points="{}" fill="none" stroke="#777" stroke-width="1.5" stroke-dasharray="6,4" clip-path="url(#p1)"/>)svg",
                      points));
    }
    // Label where the upper curve enters the plot.
    for (const auto& [k, e] : guarantee)
      if (1 + e <= y_hi) {
        add(fmt::format(R"svg(<text x="{:.1f}" y="{:.1f}" fill="#555" font-size="11" text-anchor="end">JL guarantee 1 ± ε(k), all pairs</text>)svg",
                        xpos(std::log2(double(k))) - 6, ypos(1 + e) + 4));
        break;
      }
  }
  // Boxes.
  const double group_w = (xpos(1) - xpos(0)) * 0.8;
  const double box_w = std::min(18.0, group_w / double(std::max<std::size_t>(kinds.size(), 1)));
  for (const auto& r : report.results) {
    const auto kind_index = static_cast<double>(std::find(kinds.begin(), kinds.end(), r.kind) - kinds.begin());
    const double cx = xpos(std::log2(double(r.k))) + (kind_index - (double(kinds.size()) - 1) / 2) * box_w;
    const char* c = kind_colour(r.kind);
    add(fmt::format(R"svg(<g clip-path="url(#p1)"><title>{} k={}: median {:.3f}, 5–95 % [{:.3f}, {:.3f}], within ±ε {:.1f} %</title>)svg",
                    to_string(r.kind), r.k, r.q50, r.q05, r.q95, 100 * r.within_eps));
    add(fmt::format(R"svg(<line x1="{0:.1f}" x2="{0:.1f}" y1="{1:.1f}" y2="{2:.1f}" stroke="{3}"/>)svg", cx, ypos(r.q01),
                    ypos(r.q99), c));
    add(fmt::format(R"svg(<rect x="{:.1f}" y="{:.1f}" width="{:.1f}" height="{:.1f}" fill="{}" fill-opacity="0.35" stroke="{}"/>)svg",
                    cx - box_w * 0.4, ypos(r.q95), box_w * 0.8, std::max(1.0, ypos(r.q05) - ypos(r.q95)), c, c));
    add(fmt::format(R"svg(<line x1="{0:.1f}" x2="{1:.1f}" y1="{2:.1f}" y2="{2:.1f}" stroke="{3}" stroke-width="2"/>)svg",
                    cx - box_w * 0.4, cx + box_w * 0.4, ypos(r.q50), c));
    for (double v : {r.min, r.max})
      if (v >= y_lo && v <= y_hi)
        add(fmt::format(R"svg(<circle cx="{:.1f}" cy="{:.1f}" r="1.8" fill="{}"/>)svg", cx, ypos(v), c));
    add("</g>");
  }
  // Axes.
  add(fmt::format(R"svg(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#333"/>)svg", left, top, plot_w,
                  panel1_h));
  add(fmt::format(R"svg(<text transform="translate({},{}) rotate(-90)" text-anchor="middle">‖f(x) − f(y)‖² / ‖x − y‖²</text>)svg",
                  left - 52, top + panel1_h / 2));

  // ---- panel 2: fraction within ε ----
  add(fmt::format(R"svg(<rect x="{}" y="{}" width="{}" height="{}" fill="none" stroke="#333"/>)svg", left, top2, plot_w,
                  panel2_h));
  for (double f : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    add(fmt::format(R"svg(<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" stroke="#e6e6e6"/>)svg", left, left + plot_w,
                    ypos2(f), ypos2(f)));
    add(fmt::format(R"svg(<text x="{}" y="{:.1f}" text-anchor="end" dominant-baseline="middle">{:.0f} %</text>)svg", left - 6,
                    ypos2(f), 100 * f));
  }
  if (info.target_fraction > 0) {
    add(fmt::format(R"svg(<line x1="{}" x2="{}" y1="{:.1f}" y2="{:.1f}" stroke="#555" stroke-dasharray="2,3"/>)svg", left,
                    left + plot_w, ypos2(info.target_fraction), ypos2(info.target_fraction)));
    add(fmt::format(R"svg(<text x="{}" y="{:.1f}" fill="#555" font-size="11">target {:.0f} % (▼ smallest k reaching it)</text>)svg",
                    left + 6, ypos2(info.target_fraction) - 4, 100 * info.target_fraction));
  }
  for (const auto& [kind, k] : info.smallest) {
    const double x = xpos(std::log2(double(k))), y = ypos2(info.target_fraction);
    if (x < left || x > left + plot_w) continue;
    add(fmt::format(R"svg(<path d="M {0:.1f} {1:.1f} l -5 -9 l 10 0 z" fill="{2}" stroke="#333" stroke-width="0.5"><title>{3}: smallest k = {4}</title></path>)svg",
                    x, y, kind_colour(kind), to_string(kind), k));
  }
  for (const auto kind : kinds) {
    std::string points;
    for (const auto& r : report.results)
      if (r.kind == kind)
        points += fmt::format("{:.1f},{:.1f} ", xpos(std::log2(double(r.k))), ypos2(r.within_eps));
    add(fmt::format(R"svg(<polyline points="{}" fill="none" stroke="{}" stroke-width="2"/>)svg", points, kind_colour(kind)));
    for (const auto& r : report.results)
      if (r.kind == kind)
        add(fmt::format(R"svg(<circle cx="{:.1f}" cy="{:.1f}" r="3" fill="{}"/>)svg", xpos(std::log2(double(r.k))),
                        ypos2(r.within_eps), kind_colour(kind)));
  }
  add(fmt::format(R"svg(<text transform="translate({},{}) rotate(-90)" text-anchor="middle">pairs within ±ε</text>)svg",
                  left - 52, top2 + panel2_h / 2));

  // Shared k axis (ticks under both panels).
  for (const auto k : dims) {
    const double x = xpos(std::log2(double(k)));
    for (double y : {top + panel1_h, top2 + panel2_h})
      add(fmt::format(R"svg(<line x1="{0:.1f}" x2="{0:.1f}" y1="{1}" y2="{2}" stroke="#333"/>)svg", x, y, y + 5));
    add(fmt::format(R"svg(<text x="{:.1f}" y="{}" text-anchor="middle">{}</text>)svg", x, top + panel1_h + 18, k));
    add(fmt::format(R"svg(<text x="{:.1f}" y="{}" text-anchor="middle">{}</text>)svg", x, top2 + panel2_h + 18, k));
  }
  add(fmt::format(R"svg(<text x="{}" y="{}" text-anchor="middle">target dimension k (log scale)</text>)svg",
                  left + plot_w / 2, top2 + panel2_h + 40));
  // The JL bound.
  const std::string bound_text = fmt::format("JL bound min_dim(n, ε) = {}", report.min_dim_bound);
  if (bound_on_axis) {
    const double x = xpos(bound_log);
    add(fmt::format(R"svg(<line x1="{0:.1f}" x2="{0:.1f}" y1="{1}" y2="{2}" stroke="#000" stroke-width="2" stroke-dasharray="8,4"/>)svg",
                    x, top, top + panel1_h));
    add(fmt::format(R"svg(<text x="{:.1f}" y="{}" text-anchor="end" font-size="11">{}</text>)svg", x - 4, top + panel1_h - 8,
                    bound_text));
  } else {
    add(fmt::format(R"svg(<text x="{}" y="{}" text-anchor="end" font-size="11" font-weight="bold">{} → (beyond the axis)</text>)svg",
                    left + plot_w - 6, top + panel1_h - 8, bound_text));
  }

  // Legend.
  const double lx = left + plot_w + 20;
  double ly = top + 10;
  add(fmt::format(R"svg(<text x="{}" y="{}" font-weight="bold">sketch kind</text>)svg", lx, ly));
  for (const auto kind : kinds) {
    ly += 22;
    add(fmt::format(R"svg(<rect x="{}" y="{}" width="14" height="14" fill="{}" fill-opacity="0.5" stroke="{}"/>)svg", lx,
                    ly - 11, kind_colour(kind), kind_colour(kind)));
    add(fmt::format(R"svg(<text x="{}" y="{}">{}</text>)svg", lx + 22, ly, to_string(kind)));
  }
  ly += 34;
  add(fmt::format(R"svg(<text x="{}" y="{}" font-weight="bold">box plot</text>)svg", lx, ly));
  for (const char* line : {"box: 5–95 % of pairs", "whiskers: 1–99 %", "bar: median", "dots: min, max"}) {
    ly += 18;
    add(fmt::format(R"svg(<text x="{}" y="{}">{}</text>)svg", lx, ly, line));
  }
  ly += 30;
  add(fmt::format(R"svg(<rect x="{}" y="{}" width="14" height="14" fill="#d9f2d9"/>)svg", lx, ly - 11));
  add(fmt::format(R"svg(<text x="{}" y="{}">±ε = {}</text>)svg", lx + 22, ly, report.eps));
  if (!guarantee.empty()) {
    ly += 22;
    add(fmt::format(R"svg(<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="#777" stroke-width="1.5" stroke-dasharray="6,4"/>)svg",
                    lx, lx + 16, ly - 4, ly - 4));
    add(fmt::format(R"svg(<text x="{}" y="{}">JL worst-case ε(k)</text>)svg", lx + 22, ly));
  }
  ly += 22;
  add(fmt::format(R"svg(<text x="{}" y="{}">JL bound for ε = {}:</text>)svg", lx, ly, report.eps));
  ly += 16;
  add(fmt::format(R"svg(<text x="{}" y="{}">k ≥ {}</text>)svg", lx, ly, report.min_dim_bound));
  add("</svg>");

  AtomicFile file(path);
  file.write(svg.data(), svg.size());
  file.commit();
}

}  // namespace lowdim::cli

#endif
