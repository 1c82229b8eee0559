// rulecheck: what `promtool check rules` does to a rule file, plus the metric names each
// expression reads, built from Prometheus's own packages (model/rulefmt, promql/parser) so that
// the chart tests check the PrometheusRule and the dashboard with the parser Prometheus runs.
// (promtool itself pulls in every service-discovery client: a much longer build.)
//
//	rulecheck rules FILE...   validate rule files (groups: [...]); print one JSON object per rule
//	rulecheck exprs           read a JSON array of PromQL expressions on stdin; print one JSON
//	                          object per expression
//
// Every printed object carries "metrics" (the metric names the expression selects, sorted) or
// "error". The exit code is 1 when anything is wrong, 2 on usage errors.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sort"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

type result struct {
	File    string   `json:"file,omitempty"`
	Group   string   `json:"group,omitempty"`
	Name    string   `json:"name,omitempty"`
	Expr    string   `json:"expr"`
	Metrics []string `json:"metrics,omitempty"`
	Error   string   `json:"error,omitempty"`
}

var promql = parser.NewParser(parser.Options{})

// metricsOf returns the metric names an expression selects (by __name__ equality).
func metricsOf(expr string) ([]string, error) {
	node, err := promql.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	parser.Inspect(node, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok {
			name := vs.Name
			for _, m := range vs.LabelMatchers {
				if m.Name == labels.MetricName && m.Type == labels.MatchEqual {
					name = m.Value
				}
			}
			if name != "" {
				seen[name] = true
			}
		}
		return nil
	})
	names := make([]string, 0, len(seen))
	for name := range seen {
		names = append(names, name)
	}
	sort.Strings(names)
	return names, nil
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: rulecheck rules FILE... | rulecheck exprs < exprs.json")
		os.Exit(2)
	}
	out := json.NewEncoder(os.Stdout)
	failed := false
	emit := func(r result) {
		if r.Error != "" {
			failed = true
		}
		_ = out.Encode(r)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	switch os.Args[1] {
	case "rules":
		if len(os.Args) < 3 {
			fmt.Fprintln(os.Stderr, "usage: rulecheck rules FILE...")
			os.Exit(2)
		}
		for _, file := range os.Args[2:] {
			groups, errs := rulefmt.ParseFile(file, false, model.UTF8Validation, promql, logger)
			for _, err := range errs {
				emit(result{File: file, Error: err.Error()})
			}
			if groups == nil {
				continue
			}
			for _, g := range groups.Groups {
				for _, r := range g.Rules {
					name := r.Alert
					if name == "" {
						name = r.Record
					}
					metrics, err := metricsOf(r.Expr)
					res := result{File: file, Group: g.Name, Name: name, Expr: r.Expr, Metrics: metrics}
					if err != nil {
						res.Error = err.Error()
					}
					emit(res)
				}
			}
		}
	case "exprs":
		var exprs []string
		if err := json.NewDecoder(os.Stdin).Decode(&exprs); err != nil {
			fmt.Fprintf(os.Stderr, "rulecheck exprs: stdin is not a JSON array of strings: %v\n", err)
			os.Exit(2)
		}
		for _, expr := range exprs {
			metrics, err := metricsOf(expr)
			res := result{Expr: expr, Metrics: metrics}
			if err != nil {
				res.Error = err.Error()
			}
			emit(res)
		}
	default:
		fmt.Fprintf(os.Stderr, "rulecheck: unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
	if failed {
		os.Exit(1)
	}
}
