package bench

import (
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// WriteChart draws the report's transfer measurement to path (.svg or
// .png): throughput in bytes/s against record size on top, one-way
// latency below (p50 as the marker and line, a thin bar up to p99), both
// log-log, one line per transport, with one legend for both panels in a
// column on the right. Kernel transports are drawn in cool colours with
// dashed lines and hollow markers, software ones in warm colours with
// solid lines and filled markers; within a group each has its own colour
// and marker. At each size the transports are spread a little sideways so
// that their latency bars do not hide each other.
func WriteChart(path string, rep *Report) error {
	const w, h = 34 * vg.Centimeter, 26 * vg.Centimeter
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
	legendW := 7.5 * vg.Centimeter
	plots := draw.Crop(dc, 0, -legendW, 0, 0)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadX: vg.Millimeter, PadY: 6 * vg.Millimeter,
		PadTop: 2 * vg.Millimeter, PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	cs := plot.Align([][]*plot.Plot{{tp}, {lp}}, tiles, plots)
	tp.Draw(cs[0][0])
	lp.Draw(cs[1][0])
	// The legend sits between the panels' heights, centred, so that it
	// reads as the key of both.
	lc := draw.Crop(dc, w-legendW+4*vg.Millimeter, 0, 0, 0)
	lh := legend.Rectangle(lc).Size().Y
	legend.YOffs = -(lc.Size().Y - lh) / 2
	legend.Draw(lc)

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

// series is one transport's figures, in order of size.
type series struct {
	name     string
	kernel   bool
	thr, lat plotter.XYs
	latBars  plotter.YErrors
	line     draw.LineStyle
	glyph    draw.GlyphStyle
}

// Palettes: cool colours for the kernel transports, warm ones for the
// software ones, each colour far enough from its neighbours to tell apart
// on a white background.
var (
	kernelColours = []color.RGBA{
		{0x1f, 0x77, 0xb4, 0xff}, // blue
		{0x17, 0xa7, 0xb8, 0xff}, // cyan
		{0x2c, 0xa0, 0x2c, 0xff}, // green
		{0x39, 0x3b, 0x79, 0xff}, // navy
		{0x7f, 0x7f, 0x7f, 0xff}, // grey
		{0x63, 0x79, 0x39, 0xff}, // olive
		{0x8c, 0x56, 0x4b, 0xff}, // brown
		{0x6b, 0x6e, 0xcf, 0xff}, // periwinkle
		{0x00, 0x00, 0x00, 0xff}, // black
		{0x52, 0x8b, 0x8b, 0xff}, // slate teal
	}
	softwareColours = []color.RGBA{
		{0xd6, 0x27, 0x28, 0xff}, // red
		{0xff, 0x7f, 0x0e, 0xff}, // orange
		{0x94, 0x67, 0xbd, 0xff}, // purple
		{0xe3, 0x77, 0xc2, 0xff}, // pink
		{0x8c, 0x1a, 0x1a, 0xff}, // dark red
		{0xbc, 0x9b, 0x00, 0xff}, // amber
		{0x9c, 0x27, 0x6f, 0xff}, // plum
	}
	// Hollow markers for kernel transports, filled ones for software.
	kernelShapes   = []draw.GlyphDrawer{draw.RingGlyph{}, draw.SquareGlyph{}, draw.TriangleGlyph{}, draw.CrossGlyph{}, draw.PlusGlyph{}}
	softwareShapes = []draw.GlyphDrawer{draw.CircleGlyph{}, draw.BoxGlyph{}, draw.PyramidGlyph{}}
)

// chartSeries collects each transport's figures, kernel transports first,
// each group in table order (transports the table does not know last).
func chartSeries(rep *Report) []*series {
	byName := map[string]*series{}
	var order []*series
	for _, r := range rep.Results {
		if r.NA || r.Failed {
			continue
		}
		s := byName[r.Transport]
		if s == nil {
			s = &series{name: r.Transport, kernel: r.Kind == "kernel"}
			byName[r.Transport] = s
			order = append(order, s)
		}
		if r.BytesPerS > 0 {
			s.thr = append(s.thr, plotter.XY{X: float64(r.Size), Y: r.BytesPerS})
		}
		if r.P50 > 0 {
			s.lat = append(s.lat, plotter.XY{X: float64(r.Size), Y: float64(r.P50)})
			s.latBars = append(s.latBars, struct{ Low, High float64 }{0, float64(max(r.P99-r.P50, 0))})
		}
	}
	rank := func(s *series) int {
		if i := slices.Index(Names(), s.name); i >= 0 {
			return i
		}
		return len(all)
	}
	slices.SortStableFunc(order, func(a, b *series) int {
		if a.kernel != b.kernel {
			if a.kernel {
				return -1
			}
			return 1
		}
		return rank(a) - rank(b)
	})
	k, sw := 0, 0
	for _, s := range order {
		if s.kernel {
			col := kernelColours[k%len(kernelColours)]
			s.line = draw.LineStyle{Color: col, Width: vg.Points(1.3), Dashes: []vg.Length{vg.Points(5), vg.Points(2.5)}}
			s.glyph = draw.GlyphStyle{Color: col, Radius: vg.Points(3.2), Shape: kernelShapes[k%len(kernelShapes)]}
			k++
		} else {
			col := softwareColours[sw%len(softwareColours)]
			s.line = draw.LineStyle{Color: col, Width: vg.Points(1.8)}
			s.glyph = draw.GlyphStyle{Color: col, Radius: vg.Points(3.2), Shape: softwareShapes[sw%len(softwareShapes)]}
			sw++
		}
	}
	return order
}

// dodge spreads the series sideways: at each size, series i of n is drawn
// at size × 2^((i - (n-1)/2) × step), a tenth of an octave apart and
// at most 1.5 octaves for all of them (sizes 4× apart stay apart).
func dodge(xys plotter.XYs, i, n int) plotter.XYs {
	step := math.Min(0.1, 1.5/float64(max(n-1, 1)))
	f := math.Exp2((float64(i) - float64(n-1)/2) * step)
	out := make(plotter.XYs, len(xys))
	for j, p := range xys {
		out[j] = plotter.XY{X: p.X * f, Y: p.Y}
	}
	return out
}

// chartPlots builds the two panels and their legend.
func chartPlots(rep *Report) (tp, lp *plot.Plot, legend plot.Legend, err error) {
	tp, lp = plot.New(), plot.New()
	tp.Title.Text = "Throughput against record size — " + rep.Machine.String()
	tp.Y.Label.Text = "throughput (bytes/s, log scale)"
	lp.Title.Text = "One-way latency (ping-pong round trip / 2): marker and line p50, bar up to p99"
	lp.Y.Label.Text = "latency (log scale)"
	sizes := map[int]bool{}
	for _, r := range rep.Results {
		sizes[r.Size] = true
	}
	for _, p := range []*plot.Plot{tp, lp} {
		p.Title.TextStyle.Font.Size = vg.Points(12)
		p.X.Label.Text = "record size (bytes, log scale)"
		p.X.Scale, p.Y.Scale = plot.LogScale{}, plot.LogScale{}
		p.X.Tick.Marker = sizeTicks(sizes)
		p.X.Tick.Label.Font.Size = vg.Points(11)
		p.Y.Tick.Label.Font.Size = vg.Points(11)
		p.Add(plotter.NewGrid())
	}
	tp.Y.Tick.Marker = unitTicks(func(v float64) string { return byteRate(v) })
	lp.Y.Tick.Marker = unitTicks(func(v float64) string { return dur(int64(math.Round(v))) })

	legend = plot.NewLegend()
	legend.Top, legend.Left = true, true
	legend.TextStyle.Font.Size = vg.Points(11)
	legend.ThumbnailWidth = 1.4 * vg.Centimeter
	legend.Padding = vg.Points(2.5)

	ss := chartSeries(rep)
	header := ""
	for i, s := range ss {
		if h := groupTitle(s.kernel); h != header {
			if header != "" {
				legend.Add("")
			}
			header = h
			legend.Add(h)
		}
		var thumb []plot.Thumbnailer
		if len(s.thr) > 0 {
			l, pts, err := plotter.NewLinePoints(dodge(s.thr, i, len(ss)))
			if err != nil {
				return nil, nil, legend, err
			}
			l.LineStyle, pts.GlyphStyle = s.line, s.glyph
			tp.Add(l, pts)
			thumb = append(thumb, l)
		}
		if len(s.lat) > 0 {
			lat := dodge(s.lat, i, len(ss))
			l, pts, err := plotter.NewLinePoints(lat)
			if err != nil {
				return nil, nil, legend, err
			}
			l.LineStyle, pts.GlyphStyle = s.line, s.glyph
			l.LineStyle.Width = vg.Points(1)
			eb, err := plotter.NewYErrorBars(struct {
				plotter.XYs
				plotter.YErrors
			}{lat, s.latBars})
			if err != nil {
				return nil, nil, legend, err
			}
			eb.LineStyle = draw.LineStyle{Color: s.line.Color, Width: vg.Points(1.2)}
			eb.CapWidth = vg.Points(5)
			lp.Add(l, eb, pts)
			if thumb == nil {
				thumb = append(thumb, l)
			}
		}
		legend.Add(s.name, append(thumb, thumbGlyph{s.glyph})...)
	}
	// The latency axis reaches down to 10 ns, so that the fastest
	// transports sit among labelled ticks, and up to a whole decade.
	lp.Y.Min = math.Min(10, lp.Y.Min)
	for _, a := range []*plot.Axis{&tp.Y, &lp.Y} {
		a.Min = math.Pow(10, math.Floor(math.Log10(a.Min)))
		a.Max = math.Pow(10, math.Ceil(math.Log10(a.Max)))
	}
	return tp, lp, legend, nil
}

// groupTitle heads a group of transports in the legend.
func groupTitle(kernel bool) string {
	if kernel {
		return "KERNEL (dashed, hollow)"
	}
	return "SOFTWARE (solid, filled)"
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
				if v < min*(1-1e-9) || v > max*(1+1e-9) {
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
