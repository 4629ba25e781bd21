#ifndef LOWDIM_TOOLS_ATTENTION_PLOT_HPP
#define LOWDIM_TOOLS_ATTENTION_PLOT_HPP

// A log-log line plot in SVG for `lowdim attention error` (MSE against m) and `bench`
// (time against L); private to the CLI.

#include <lowdim/io.hpp>

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

namespace lowdim::cli {

struct PlotSeries {
  std::string name;
  std::vector<double> x, y;
  int colour = 0;  // index into the palette
  int dash = 0;    // 0 solid, 1 dashed, 2 dotted, ...
};

inline std::string svg_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else out += c;
  }
  return out;
}

/// Writes the plot atomically; points with non-positive or non-finite values are skipped.
inline void write_line_plot(const std::string& path, const std::string& title, const std::string& x_label,
                            const std::string& y_label, const std::vector<PlotSeries>& series) {
  static constexpr const char* palette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                            "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  static constexpr const char* dashes[] = {"", "6,4", "2,3", "8,3,2,3"};
  const double width = 900, height = 560, left = 80, right = 260, top = 50, bottom = 60;
  double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
  for (const auto& s : series)
    for (std::size_t i = 0; i < s.x.size(); ++i)
      if (s.x[i] > 0 && s.y[i] > 0 && std::isfinite(s.x[i]) && std::isfinite(s.y[i])) {
        x0 = std::min(x0, std::log10(s.x[i]));
        x1 = std::max(x1, std::log10(s.x[i]));
        y0 = std::min(y0, std::log10(s.y[i]));
        y1 = std::max(y1, std::log10(s.y[i]));
      }
  if (x0 > x1) x0 = 0, x1 = 1, y0 = 0, y1 = 1;
  x0 = std::floor(x0), x1 = std::max(std::ceil(x1), x0 + 1);
  y0 = std::floor(y0), y1 = std::max(std::ceil(y1), y0 + 1);
  const double pw = width - left - right, ph = height - top - bottom;
  const auto px = [&](double v) { return left + (std::log10(v) - x0) / (x1 - x0) * pw; };
  const auto py = [&](double v) { return top + (1 - (std::log10(v) - y0) / (y1 - y0)) * ph; };
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" "
      "font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"28\" font-size=\"15\">{}</text>\n",
      width, height, left, svg_escape(title));
  for (double e = x0; e <= x1 + 1e-9; e += 1) {
    const double x = left + (e - x0) / (x1 - x0) * pw;
    svg += fmt::format("<line x1=\"{:.1f}\" y1=\"{}\" x2=\"{:.1f}\" y2=\"{}\" stroke=\"#ddd\"/>\n", x, top, x, top + ph);
    svg += fmt::format("<text x=\"{:.1f}\" y=\"{}\" text-anchor=\"middle\">1e{}</text>\n", x, top + ph + 18, e);
  }
  for (double e = y0; e <= y1 + 1e-9; e += 1) {
    const double y = top + (1 - (e - y0) / (y1 - y0)) * ph;
    svg += fmt::format("<line x1=\"{}\" y1=\"{:.1f}\" x2=\"{}\" y2=\"{:.1f}\" stroke=\"#ddd\"/>\n", left, y, left + pw, y);
    svg += fmt::format("<text x=\"{}\" y=\"{:.1f}\" text-anchor=\"end\">1e{}</text>\n", left - 6, y + 4, e);
  }
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"black\"/>\n", left, top,
                     pw, ph);
  svg += fmt::format("<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n", left + pw / 2, height - 15,
                     svg_escape(x_label));
  svg += fmt::format("<text x=\"18\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {})\">{}</text>\n",
                     top + ph / 2, top + ph / 2, svg_escape(y_label));
  for (std::size_t k = 0; k < series.size(); ++k) {
    const auto& s = series[k];
    const char* colour = palette[static_cast<std::size_t>(s.colour) % std::size(palette)];
    const char* dash = dashes[static_cast<std::size_t>(s.dash) % std::size(dashes)];
    std::string points;
    for (std::size_t i = 0; i < s.x.size(); ++i)
      if (s.x[i] > 0 && s.y[i] > 0 && std::isfinite(s.x[i]) && std::isfinite(s.y[i]))
        points += fmt::format("{:.1f},{:.1f} ", px(s.x[i]), py(s.y[i]));
    svg += fmt::format("<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\" stroke-dasharray=\"{}\"/>\n",
                       points, colour, dash);
    const double ly = top + 14 + 16 * static_cast<double>(k);
    svg += fmt::format("<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"2\" "
                       "stroke-dasharray=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>\n",
                       left + pw + 12, ly, left + pw + 40, ly, colour, dash, left + pw + 46, ly + 4, svg_escape(s.name));
  }
  svg += "</svg>\n";
  AtomicFile file(path);
  file.write(svg.data(), svg.size());
  file.commit();
}

}  // namespace lowdim::cli

#endif
