package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/pgvecrep/pgvecrep/internal/hint"
)

// flags wraps a FlagSet with pg_easy_replicate's conventions: a short alias
// per flag, --flag_name as well as --flag-name (its CLI library accepts
// both, and its README uses the underscores), and values checked as they are
// parsed, so a bad one fails with exit 2 before anything is connected.
type flags struct {
	*flag.FlagSet
	cmd     *command
	env     *Env
	aliases map[string]string // long name -> short name
	notes   map[string]string // long name -> what pgvecrep does instead
	bad     *badValue         // the first value that did not parse

	sourceURL, targetURL string
}

// badValue is a flag value that its Set refused.
type badValue struct {
	name, value string
	err         error
}

func newFlags(env *Env, c *command) *flags {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &flags{FlagSet: fs, cmd: c, env: env, aliases: map[string]string{}, notes: map[string]string{}}
	fs.StringVar(&f.sourceURL, "source-url", "", "source database URL (default $SOURCE_DB_URL)")
	fs.StringVar(&f.targetURL, "target-url", "", "target database URL (default $TARGET_DB_URL)")
	return f
}

// stringVar defines --long and, when short is not empty, -short for the same value.
func (f *flags) stringVar(p *string, long, short, value, usage string) {
	f.StringVar(p, long, value, usage)
	f.alias(long, short)
}

func (f *flags) boolVar(p *bool, long, short string, usage string) {
	f.BoolVar(p, long, false, usage)
	f.alias(long, short)
}

// intVar defines a whole-number flag that refuses values below min.
func (f *flags) intVar(p *int, long, short string, value, min int, usage string) {
	*p = value
	f.Var(&intValue{p: p, min: min}, long, usage)
	f.alias(long, short)
}

// durationVar defines a duration flag that refuses zero and negative values.
func (f *flags) durationVar(p *time.Duration, long, short string, value time.Duration, usage string) {
	*p = value
	f.Var(&durationValue{p: p}, long, usage)
	f.alias(long, short)
}

// choiceVar defines a flag that takes one of a few words.
func (f *flags) choiceVar(p *string, long, short, value string, choices []string, usage string) {
	*p = value
	f.Var(&choiceValue{p: p, choices: choices}, long, usage)
	f.alias(long, short)
}

// noteVar accepts a pg_easy_replicate flag whose job pgvecrep does another,
// better way; given, it prints note instead of failing the command.
func (f *flags) noteVar(long, short string, isBool bool, note string) {
	if isBool {
		var b bool
		f.BoolVar(&b, long, false, "accepted for pg_easy_replicate: "+note)
	} else {
		var s string
		f.StringVar(&s, long, "", "accepted for pg_easy_replicate: "+note)
	}
	f.alias(long, short)
	f.notes[long] = note
}

func (f *flags) alias(long, short string) {
	if short == "" {
		return
	}
	fl := f.Lookup(long)
	f.Var(fl.Value, short, fl.Usage)
	f.aliases[long] = short
}

// longName is the name a message uses for a flag: the long one.
func (f *flags) longName(name string) string {
	for long, short := range f.aliases {
		if short == name {
			return long
		}
	}
	return name
}

// parse parses args; --help prints the command's help and returns flag.ErrHelp.
func (f *flags) parse(args []string) error {
	args, err := f.normalize(args)
	if err != nil {
		return err
	}
	f.watchValues()
	f.env.parsed = f
	err = f.Parse(args)
	if err == flag.ErrHelp {
		printHelp(f.env.Stdout, f.cmd, f)
		return err
	}
	if err != nil {
		return f.usageError(err)
	}
	if f.NArg() > 0 {
		return &exitError{code: 2, err: hint.New(fmt.Sprintf("unexpected argument %q", f.Arg(0)),
			fmt.Sprintf("run pgvecrep %s --help", f.cmd.name))}
	}
	f.printNotes()
	return nil
}

// usageError turns the flag package's error into one in --double-dash form.
func (f *flags) usageError(err error) error {
	help := fmt.Sprintf("run pgvecrep %s --help", f.cmd.name)
	if b := f.bad; b != nil {
		msg := fmt.Sprintf("--%s %s, got %q", f.longName(b.name), b.err, b.value)
		return &exitError{code: 2, err: hint.New(msg, help)}
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		msg = fmt.Sprintf("--%s needs a value", f.longName(name))
	}
	return &exitError{code: 2, err: hint.New(msg, help)}
}

// printNotes says, for each given flag that pgvecrep replaces by something
// better, what it does instead.
func (f *flags) printNotes() {
	seen := map[string]bool{}
	f.Visit(func(fl *flag.Flag) {
		long := f.longName(fl.Name)
		if note, ok := f.notes[long]; ok && !seen[long] {
			seen[long] = true
			fmt.Fprintf(f.env.Stderr, "note: --%s: %s\n", long, note)
		}
	})
}

// normalize rewrites every flag to its canonical --long-name spelling, so
// --exclude_tables and -e land on the same flag, and rejects unknown flags
// with a suggestion before the flag package sees them.
func (f *flags) normalize(args []string) ([]string, error) {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || len(a) < 2 || a[0] != '-' {
			return append(out, args[i:]...), nil // the flag package stops here too
		}
		name, rest := strings.TrimLeft(a, "-"), ""
		if k := strings.IndexByte(name, '='); k >= 0 {
			name, rest = name[:k], name[k:]
		}
		if name == "h" || name == "help" {
			out = append(out, a)
			continue
		}
		canon := f.canonical(name)
		if canon == "" {
			return nil, f.unknownFlag(name)
		}
		out = append(out, "--"+canon+rest)
		if !isBoolFlag(f.Lookup(canon)) && rest == "" && i+1 < len(args) {
			i++
			out = append(out, args[i])
		}
	}
	return out, nil
}

func (f *flags) canonical(name string) string {
	if f.Lookup(name) != nil {
		return name
	}
	if n := strings.ReplaceAll(name, "_", "-"); f.Lookup(n) != nil {
		return n
	}
	return ""
}

func (f *flags) unknownFlag(name string) error {
	dash := "--"
	if len(name) == 1 {
		dash = "-"
	}
	h := fmt.Sprintf("run pgvecrep %s --help", f.cmd.name)
	var names []string
	f.VisitAll(func(fl *flag.Flag) {
		if len(fl.Name) > 1 {
			names = append(names, fl.Name)
		}
	})
	if s := closest(strings.ReplaceAll(name, "_", "-"), names); s != "" {
		h = fmt.Sprintf("did you mean --%s? (%s)", s, h)
	}
	return &exitError{code: 2, err: hint.New(fmt.Sprintf("unknown flag %s%s", dash, name), h)}
}

// watchValues wraps each flag's value so that a refused Set is remembered
// with its flag's name: the flag package's own message names the flag in
// Go's single-dash form and says "parse error".
func (f *flags) watchValues() {
	f.VisitAll(func(fl *flag.Flag) {
		if _, done := fl.Value.(watched); done {
			return
		}
		w := &watchedValue{Value: fl.Value, name: fl.Name, f: f}
		if isBoolFlag(fl) {
			fl.Value = &watchedBool{w}
		} else {
			fl.Value = w
		}
	})
}

type watched interface{ watched() }

type watchedValue struct {
	flag.Value
	name string
	f    *flags
}

func (w *watchedValue) watched() {}

func (w *watchedValue) Set(s string) error {
	err := w.Value.Set(s)
	if err != nil && w.f.bad == nil {
		w.f.bad = &badValue{name: w.name, value: s, err: wantsError(w.Value, err)}
	}
	return err
}

type watchedBool struct{ *watchedValue }

func (w *watchedBool) IsBoolFlag() bool { return true }

// wantsError is what a value should look like, for the flag types that the
// flag package defines (ours say it themselves).
func wantsError(v flag.Value, err error) error {
	var w wants
	if errors.As(err, &w) {
		return err
	}
	g, ok := v.(flag.Getter)
	if !ok {
		return wants("wants " + err.Error())
	}
	switch g.Get().(type) {
	case bool:
		return wants("wants true or false")
	case int, int64, uint, uint64:
		return wants("wants a whole number")
	case time.Duration:
		return wants("wants a duration such as 2s, 1m or 1h30m")
	}
	return wants("wants " + err.Error())
}

// wants is the text after a flag's name in a bad value's message.
type wants string

func (w wants) Error() string { return string(w) }

type intValue struct {
	p   *int
	min int
}

func (v *intValue) String() string {
	if v.p == nil {
		return "0"
	}
	return strconv.Itoa(*v.p)
}
func (v *intValue) Get() any { return *v.p }
func (v *intValue) Set(s string) error {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < v.min {
		return wants(fmt.Sprintf("wants a whole number ≥ %d", v.min))
	}
	*v.p = n
	return nil
}

type durationValue struct{ p *time.Duration }

func (v *durationValue) String() string {
	if v.p == nil {
		return "0s"
	}
	return v.p.String()
}
func (v *durationValue) Get() any { return *v.p }
func (v *durationValue) Set(s string) error {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil || d <= 0 {
		return wants("wants a positive duration such as 2s, 1m or 1h30m")
	}
	*v.p = d
	return nil
}

type choiceValue struct {
	p       *string
	choices []string
}

func (v *choiceValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}
func (v *choiceValue) Get() any { return *v.p }
func (v *choiceValue) Set(s string) error {
	for _, c := range v.choices {
		if s == c {
			*v.p = s
			return nil
		}
	}
	return wants("wants " + strings.Join(v.choices, " or "))
}

func isBoolFlag(fl *flag.Flag) bool {
	b, ok := fl.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// given reports whether the flag long (or its short alias) was on the
// command line.
func (f *flags) given(long string) bool {
	set := false
	f.Visit(func(fl *flag.Flag) { set = set || f.longName(fl.Name) == long })
	return set
}

// spell is how a printed command line names a flag: its short alias when it
// has one (-g, -t), else --long-name.
func (f *flags) spell(long string) string {
	if s, ok := f.aliases[long]; ok {
		return "-" + s
	}
	return "--" + long
}

// parseGroup parses args and requires --group-name, the first steps of
// every command that works on one group.
// group points at the flag's variable: it is read after parsing.
func (f *flags) parseGroup(args []string, group *string) error {
	if err := f.parse(args); err != nil {
		return err
	}
	return requireGroup(f.cmd, *group)
}

// urls returns source and target URLs from flags or environment.
func (f *flags) urls() (src, tgt string) {
	src, tgt = f.sourceURL, f.targetURL
	if src == "" {
		src = f.env.Getenv("SOURCE_DB_URL")
	}
	if tgt == "" {
		tgt = f.env.Getenv("TARGET_DB_URL")
	}
	return src, tgt
}

// subscriptionURL is the source's address as the target sees it.
func (f *flags) subscriptionURL() string {
	if s := f.env.Getenv("SECONDARY_SOURCE_DB_URL"); s != "" {
		return s
	}
	src, _ := f.urls()
	return src
}

// requireGroup checks that -g was given.
func requireGroup(c *command, g string) error {
	if strings.TrimSpace(g) == "" {
		return &exitError{code: 2, err: hint.New("--group-name is required",
			fmt.Sprintf("e.g. pgvecrep %s --group-name database-cluster-1", c.name))}
	}
	return nil
}

// tableFlags are the table selection flags shared by config_check, bootstrap
// and start_sync; filter (selection.go) resolves them.
type tableFlags struct {
	schema, tables, exclude string
}

// add defines -s/--schema-name, -t/--tables and -e/--exclude-tables.
// schemaShort is "s" except in bootstrap, where pg_easy_replicate's -s is
// --special-user-role.
func (t *tableFlags) add(f *flags, schemaShort string) {
	f.stringVar(&t.schema, "schema-name", schemaShort, "public", "schema whose tables are replicated; several, comma-separated: app,audit")
	f.stringVar(&t.tables, "tables", "t", "", "only these tables, comma-separated; table or schema.table")
	f.stringVar(&t.exclude, "exclude-tables", "e", "", "all tables of the schema(s) except these, comma-separated")
}

// printFlags lists each flag once: its short alias, its hyphen and
// underscore spellings, then what it does on the next line.
func printFlags(w io.Writer, f *flags) {
	var names []string
	f.VisitAll(func(fl *flag.Flag) {
		if f.longName(fl.Name) == fl.Name && (len(fl.Name) > 1 || f.aliases[fl.Name] == "") {
			names = append(names, fl.Name)
		}
	})
	sort.Strings(names)
	for _, n := range names {
		fl := f.Lookup(n)
		spell := "--" + n
		if strings.Contains(n, "-") {
			spell += ", --" + strings.ReplaceAll(n, "-", "_")
		}
		if s, ok := f.aliases[n]; ok {
			spell = "-" + s + ", " + spell
		}
		if !isBoolFlag(fl) {
			spell += " VALUE"
		}
		def := ""
		if fl.DefValue != "" && fl.DefValue != "false" && fl.DefValue != "0" {
			def = fmt.Sprintf(" (default %s)", fl.DefValue)
		}
		fmt.Fprintf(w, "  %s\n      %s%s\n", spell, fl.Usage, def)
	}
}

// closest is the candidate nearest to s by edit distance, or "" when none
// is near enough to be a typo of it.
func closest(s string, candidates []string) string {
	best, bestD := "", 2
	if len([]rune(s)) < 4 {
		bestD = 1
	}
	for _, c := range candidates {
		if d := editDistance(s, c); d <= bestD && (best == "" || d < editDistance(s, best)) {
			best = c
		}
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(rb)]
}

// groupFlags starts the flags of a command that acts on one group, so every
// such command spells --group-name/-g, and describes it, the same way.
func groupFlags(env *Env, cmd string, name *string) *flags {
	f := newFlags(env, commands[cmd])
	f.stringVar(name, "group-name", "g", "", "name of the replication group")
	return f
}
