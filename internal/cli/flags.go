package cli

import (
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgvecrep/pgvecrep/internal/catalog"
	"github.com/pgvecrep/pgvecrep/internal/hint"
)

// flags wraps a FlagSet with pg_easy_replicate's short aliases and the
// connection flags every command shares.
type flags struct {
	*flag.FlagSet
	cmd     *command
	env     *Env
	aliases map[string]string // long name -> short name

	sourceURL, targetURL string
}

func newFlags(env *Env, c *command) *flags {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	f := &flags{FlagSet: fs, cmd: c, env: env, aliases: map[string]string{}}
	fs.StringVar(&f.sourceURL, "source-url", "", "source database URL (default $SOURCE_DB_URL)")
	fs.StringVar(&f.targetURL, "target-url", "", "target database URL (default $TARGET_DB_URL)")
	return f
}

// stringVar defines --long and, when short is not empty, -short for the same value.
func (f *flags) stringVar(p *string, long, short, value, usage string) {
	f.StringVar(p, long, value, usage)
	if short != "" {
		f.StringVar(p, short, value, usage)
		f.aliases[long] = short
	}
}

func (f *flags) boolVar(p *bool, long, short string, usage string) {
	f.BoolVar(p, long, false, usage)
	if short != "" {
		f.BoolVar(p, short, false, usage)
		f.aliases[long] = short
	}
}

// parse parses args; --help prints the command's help and returns flag.ErrHelp.
func (f *flags) parse(args []string) error {
	err := f.Parse(args)
	if err == flag.ErrHelp {
		printHelp(f.env.Stdout, f.cmd, f.FlagSet)
		return err
	}
	if err != nil {
		return &exitError{code: 2, err: hint.Wrap(err, fmt.Sprintf("run pgvecrep %s --help", f.cmd.name))}
	}
	if f.NArg() > 0 {
		return &exitError{code: 2, err: hint.New(fmt.Sprintf("unexpected argument %q", f.Arg(0)),
			fmt.Sprintf("run pgvecrep %s --help", f.cmd.name))}
	}
	return nil
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

// tableFlags are the table selection flags shared by config_check and start_sync.
type tableFlags struct {
	schema, tables, exclude string
}

func (t *tableFlags) add(f *flags) {
	f.stringVar(&t.schema, "schema-name", "s", "public", "schema whose tables are replicated")
	f.stringVar(&t.tables, "tables", "t", "", "only these tables, comma-separated; table or schema.table")
	f.stringVar(&t.exclude, "exclude-tables", "e", "", "all tables of the schema except these, comma-separated")
}

func (t *tableFlags) filter() catalog.Filter {
	f := catalog.Filter{Schema: t.schema}
	if t.tables != "" {
		f.Include = []string{t.tables}
	}
	if t.exclude != "" {
		f.Exclude = []string{t.exclude}
	}
	return f
}

// printFlags lists flags with their short alias on one line.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	shortOf := map[string]string{}
	longs := map[string]bool{}
	fs.VisitAll(func(fl *flag.Flag) {
		if len(fl.Name) > 1 {
			longs[fl.Name] = true
		}
	})
	fs.VisitAll(func(fl *flag.Flag) {
		if len(fl.Name) == 1 {
			fs.VisitAll(func(o *flag.Flag) {
				if len(o.Name) > 1 && o.Usage == fl.Usage {
					shortOf[o.Name] = fl.Name
				}
			})
		}
	})
	var names []string
	for n := range longs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fl := fs.Lookup(n)
		name := "--" + n
		if s, ok := shortOf[n]; ok {
			name = "-" + s + ", " + name
		}
		typ := ""
		if _, isBool := fl.Value.(interface{ IsBoolFlag() bool }); !isBool {
			typ = " VALUE"
		}
		def := ""
		if fl.DefValue != "" && fl.DefValue != "false" && fl.DefValue != "0" {
			def = fmt.Sprintf(" (default %s)", fl.DefValue)
		}
		fmt.Fprintf(w, "  %-28s %s%s\n", name+typ, fl.Usage, def)
	}
}

// pgConn is the connection type commands pass around.
type pgConn = *pgx.Conn
