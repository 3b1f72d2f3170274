package bench

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// WriteChart draws the report to path (.svg or .png): throughput in
// bytes/s against record size on top, one-way latency below (p50 as the
// line, a bar up to p99), both log-log, one line per transport, with the
// legend in a column on the right.
func WriteChart(path string, rep *Report) error {
	const w, h = 30 * vg.Centimeter, 24 * vg.Centimeter
	var c interface {
		vg.CanvasSizer
		io.WriterTo
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg":
		c = vgsvg.New(w, h)
	case ".png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(110))}
	default:
		return fmt.Errorf("chart %s: the name must end in .svg or .png", path)
	}
	dc := draw.New(c)
	// A white background: PNG viewers with dark themes otherwise show
	// black axes on black.
	dc.SetColor(color.White)
	dc.Fill(dc.Rectangle.Path())

	tp, lp, legend, err := chartPlots(rep)
	if err != nil {
		return err
	}
	legendW := 6 * vg.Centimeter
	plots := draw.Crop(dc, 0, -legendW, 0, 0)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 4 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	cs := plot.Align([][]*plot.Plot{{tp}, {lp}}, tiles, plots)
	tp.Draw(cs[0][0])
	lp.Draw(cs[1][0])
	legend.Draw(draw.Crop(dc, w-legendW, 0, 0, -12*vg.Millimeter))

	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// chartPlots builds the two panels and the legend.
func chartPlots(rep *Report) (tp, lp, legend *plot.Plot, err error) {
	tp, lp, legend = plot.New(), plot.New(), plot.New()
	tp.Title.Text = "Throughput vs record size — " + rep.Machine.String()
	tp.Y.Label.Text = "throughput (bytes/s, log scale)"
	lp.Title.Text = "One-way latency (ping-pong round trip / 2): line p50, bar to p99"
	lp.Y.Label.Text = "latency (log scale)"
	sizes := map[int]bool{}
	for _, r := range rep.Results {
		sizes[r.Size] = true
	}
	for _, p := range []*plot.Plot{tp, lp} {
		p.Title.TextStyle.Font.Size = vg.Points(11)
		p.X.Label.Text = "record size (bytes, log scale)"
		p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
		p.X.Tick.Marker = sizeTicks(sizes)
		p.Add(plotter.NewGrid())
	}
	tp.Y.Tick.Marker = unitTicks(func(v float64) string { return byteRate(v) })
	lp.Y.Tick.Marker = unitTicks(func(v float64) string { return dur(int64(v)) })

	legend.HideAxes()
	legend.Legend.Top, legend.Legend.Left = true, true
	legend.Legend.TextStyle.Font.Size = vg.Points(10)
	legend.Legend.ThumbnailWidth = 1.2 * vg.Centimeter
	legend.Title.Text = "transport"

	i := 0
	for _, name := range Names() {
		var thr, lat plotter.XYs
		var bars plotter.YErrors
		for _, r := range rep.Results {
			if r.Transport != name || r.NA || r.Failed {
				continue
			}
			if r.BytesPerS > 0 {
				thr = append(thr, plotter.XY{X: float64(r.Size), Y: r.BytesPerS})
			}
			if r.P50 > 0 {
				lat = append(lat, plotter.XY{X: float64(r.Size), Y: float64(r.P50)})
				bars = append(bars, struct{ Low, High float64 }{0, float64(max(r.P99-r.P50, 0))})
			}
		}
		if len(thr) == 0 && len(lat) == 0 {
			continue
		}
		style := draw.LineStyle{Color: plotutil.Color(i), Width: vg.Points(1.5), Dashes: plotutil.Dashes(i / 7)}
		glyph := draw.GlyphStyle{Color: plotutil.Color(i), Radius: vg.Points(3), Shape: plotutil.Shape(i)}
		i++
		var thumb plot.Thumbnailer
		if len(thr) > 0 {
			l, pts, err := plotter.NewLinePoints(thr)
			if err != nil {
				return nil, nil, nil, err
			}
			l.LineStyle, pts.GlyphStyle = style, glyph
			tp.Add(l, pts)
			thumb = l
		}
		if len(lat) > 0 {
			l, pts, err := plotter.NewLinePoints(lat)
			if err != nil {
				return nil, nil, nil, err
			}
			l.LineStyle, pts.GlyphStyle = style, glyph
			eb, err := plotter.NewYErrorBars(struct {
				plotter.XYs
				plotter.YErrors
			}{lat, bars})
			if err != nil {
				return nil, nil, nil, err
			}
			eb.LineStyle = draw.LineStyle{Color: style.Color, Width: vg.Points(1)}
			lp.Add(l, pts, eb)
			if thumb == nil {
				thumb = l
			}
			_ = pts
		}
		legend.Legend.Add(name, thumb, thumbGlyph{glyph})
	}
	return tp, lp, legend, nil
}

// thumbGlyph draws a transport's marker in the legend.
type thumbGlyph struct{ s draw.GlyphStyle }

func (g thumbGlyph) Thumbnail(c *draw.Canvas) {
	c.DrawGlyph(g.s, c.Center())
}

// sizeTicks labels the record sizes measured: 64B, 1KiB, 64KiB, 1MiB.
func sizeTicks(sizes map[int]bool) plot.Ticker {
	return plot.TickerFunc(func(min, max float64) []plot.Tick {
		var ts []plot.Tick
		for s := range sizes {
			ts = append(ts, plot.Tick{Value: float64(s), Label: sizeLabel(s)})
		}
		if len(ts) < 2 {
			ts = append(ts, plot.Tick{Value: min}, plot.Tick{Value: max})
		}
		return ts
	})
}

// unitTicks puts a labelled tick at every power of ten and unlabelled
// ones at 2..9 times it.
func unitTicks(label func(float64) string) plot.Ticker {
	return plot.TickerFunc(func(min, max float64) []plot.Tick {
		var ts []plot.Tick
		if min <= 0 || max <= 0 {
			return ts
		}
		for e := math.Floor(math.Log10(min)); e <= math.Ceil(math.Log10(max)); e++ {
			base := math.Pow(10, e)
			for k := 1.0; k < 10; k++ {
				v := k * base
				if v < min || v > max {
					continue
				}
				t := plot.Tick{Value: v}
				if k == 1 {
					t.Label = label(v)
				}
				ts = append(ts, t)
			}
		}
		return ts
	})
}
