//! How `sh` reads a command line, with the parser of a real shell
//! (brush-parser): the simple commands it would run, for permission
//! patterns, and where a `${..}` reference of the workflow stands (plain,
//! in quotes, in a heredoc, in arithmetic...), so its value can reach the
//! shell as data in every place. See docs/actions.md#permissions.

use brush_parser::ast;
use brush_parser::word::{Parameter, ParameterExpr, WordPiece, WordPieceWithSource};
use brush_parser::ParserOptions;
use std::collections::BTreeMap;

/// How deep command substitutions, `sh -c` strings and wrapped commands are followed.
const MAX_DEPTH: usize = 8;

/// One word of a simple command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    /// The word after quote removal; expansions (`$HOME`, `${x}`, `$(..)`) as written.
    pub text: String,
    /// Whether the word is fixed text (no expansion): then `text` is what the program gets.
    pub literal: bool,
}

/// A command the shell would run: its words, assignments and redirections left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimpleCommand {
    /// The command's name, then its arguments.
    pub words: Vec<Word>,
}

impl SimpleCommand {
    /// The command as one line: its words, quoted where a word holds spaces or shell characters.
    pub fn text(&self) -> String {
        self.words.iter().map(|w| if w.literal { quote(&w.text) } else { w.text.clone() }).collect::<Vec<_>>().join(" ")
    }
}

/// `text` as one shell word: as it is when nothing in it is special, else single-quoted.
pub fn quote(text: &str) -> String {
    let plain = !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || "@%+=:,./-_^~".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}

/// What reading a command line found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reading {
    /// Every simple command, including those inside substitutions, bodies and `sh -c` strings.
    pub commands: Vec<SimpleCommand>,
    /// Why an allow pattern cannot vouch for the whole line (a person is asked):
    /// command substitution, `eval`, `source`, a shell, a command that runs another.
    pub unjudged: Vec<String>,
    /// Parts whose commands cannot be known before the line runs (a deny pattern cannot see them).
    pub unknowable: Vec<String>,
}

/// Where a workflow reference stands in a shell command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Place {
    /// An unquoted word (also inside `$(..)` or backticks): the value needs quotes.
    Plain,
    /// Inside double quotes.
    DoubleQuoted,
    /// Inside single quotes: the shell expands nothing there.
    SingleQuoted,
    /// The body of a heredoc whose delimiter is unquoted (`<<EOF`): expanded, never split.
    Heredoc,
    /// The body of a heredoc whose delimiter is quoted (`<<'EOF'`): nothing is expanded.
    QuotedHeredoc {
        /// The line that ends the heredoc.
        delimiter: String,
        /// `<<-`: leading tabs are removed from every line.
        strip_tabs: bool,
    },
    /// Inside `$((..))`: the value is read as arithmetic.
    Arithmetic,
}

/// Reads `text` as `sh` would and reports the commands in it.
pub fn read_commands(text: &str) -> Reading {
    let mut walk = Walk::default();
    walk.program_text(text, 0);
    walk.reading
}

/// The places of the references `${NAME_1}`..`${NAME_n}` (`NAME_` is `marker`) in
/// `text`, by number; an error when one stands where its value cannot be passed
/// safely or the text cannot be read.
pub fn reference_places(text: &str, marker: &str, count: usize) -> Result<BTreeMap<usize, Place>, String> {
    let program = parse(text).map_err(|e| format!("the command cannot be read as shell syntax: {e}"))?;
    let mut walk = Walk { marker: Some(marker.to_string()), ..Walk::default() };
    walk.program(&program, 0);
    if let Some(problem) = walk.problems.into_iter().next() {
        return Err(problem);
    }
    for n in 1..=count {
        if !walk.places.contains_key(&n) {
            return Err(format!("reference {n} stands where the shell does not expand it as a parameter (after a backslash, or in a comment)"));
        }
    }
    Ok(walk.places)
}

/// The bodies of the quoted heredocs (`<<'EOF'`) of `text`, in order (none when it cannot be read).
pub fn quoted_heredoc_bodies(text: &str) -> Vec<String> {
    let mut walk = Walk::default();
    walk.program_text(text, 0);
    walk.quoted_heredocs
}

fn options() -> ParserOptions {
    // `sh` has no extended globs; everything else bash reads, dash reads the same way or refuses.
    ParserOptions { enable_extended_globbing: false, ..ParserOptions::default() }
}

/// How deeply brackets may nest in a command line: the parser recurses on
/// them, and a deeper line would overflow the stack (it is refused as unreadable).
const MAX_NESTING: usize = 48;

fn parse(text: &str) -> Result<ast::Program, String> {
    // Counted without regard to quotes: a quoted bracket only makes the count larger.
    let mut depth = 0usize;
    for c in text.chars() {
        match c {
            '(' | '{' | '`' => depth += 1,
            ')' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        if depth > MAX_NESTING {
            return Err(format!("brackets nest more than {MAX_NESTING} levels deep"));
        }
    }
    let options = options();
    // A parser bug must not take the run down: a line it panics on is one it cannot read.
    std::panic::catch_unwind(|| {
        let tokens = brush_parser::tokenize_str_with_options(text, &options.tokenizer_options()).map_err(|e| e.to_string())?;
        brush_parser::parse_tokens(&tokens, &options).map_err(|e| e.to_string())
    })
    .unwrap_or_else(|_| Err("the shell parser failed on it".to_string()))
}

/// A walk over a parsed command line.
#[derive(Default)]
struct Walk {
    reading: Reading,
    /// The prefix of the reference variables to place, when placing them.
    marker: Option<String>,
    places: BTreeMap<usize, Place>,
    problems: Vec<String>,
    /// The bodies of quoted heredocs (`<<'EOF'`), in order.
    quoted_heredocs: Vec<String>,
}

/// The shells: given a command string or standard input, they run anything.
const SHELLS: &[&str] = &["sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "yash", "fish", "busybox", "su"];

/// Commands that run another command given in their arguments.
const WRAPPERS: &[&str] = &[
    "env", "exec", "command", "builtin", "nohup", "nice", "time", "timeout", "sudo", "doas", "xargs", "stdbuf", "setsid", "ionice", "chrt", "taskset", "flock",
    "watch", "unbuffer", "strace", "ltrace", "nsenter", "unshare", "chroot", "runuser", "parallel", "script", "trap",
];

impl Walk {
    fn unjudged(&mut self, why: String) {
        if !self.reading.unjudged.contains(&why) {
            self.reading.unjudged.push(why);
        }
    }

    fn unknowable(&mut self, why: String) {
        self.unjudged(why.clone());
        if !self.reading.unknowable.contains(&why) {
            self.reading.unknowable.push(why);
        }
    }

    fn program_text(&mut self, text: &str, depth: usize) {
        if depth > MAX_DEPTH {
            self.unknowable("commands nested too deeply to follow".to_string());
            return;
        }
        match parse(text) {
            Ok(program) => self.program(&program, depth),
            Err(e) => {
                self.unknowable(format!("the shell syntax cannot be read ({e})"));
                self.problems.push(format!("the command cannot be read as shell syntax: {e}"));
            }
        }
    }

    fn program(&mut self, program: &ast::Program, depth: usize) {
        for list in &program.complete_commands {
            self.list(list, depth);
        }
    }

    fn list(&mut self, list: &ast::CompoundList, depth: usize) {
        for ast::CompoundListItem(and_or, _) in &list.0 {
            self.pipeline(&and_or.first, depth);
            for next in &and_or.additional {
                match next {
                    ast::AndOr::And(p) | ast::AndOr::Or(p) => self.pipeline(p, depth),
                }
            }
        }
    }

    fn pipeline(&mut self, pipeline: &ast::Pipeline, depth: usize) {
        for command in &pipeline.seq {
            self.command(command, depth);
        }
    }

    fn command(&mut self, command: &ast::Command, depth: usize) {
        match command {
            ast::Command::Simple(simple) => self.simple(simple, depth),
            ast::Command::Compound(compound, redirects) => {
                self.compound(compound, depth);
                self.redirects(redirects.as_ref(), depth);
            }
            ast::Command::Function(function) => {
                self.compound(&function.body.0, depth);
                self.redirects(function.body.1.as_ref(), depth);
            }
            ast::Command::ExtendedTest(test, redirects) => {
                self.extended_test(&test.expr, depth);
                self.redirects(redirects.as_ref(), depth);
            }
        }
    }

    fn redirects(&mut self, redirects: Option<&ast::RedirectList>, depth: usize) {
        for redirect in redirects.map(|r| r.0.as_slice()).unwrap_or_default() {
            self.redirect(redirect, depth);
        }
    }

    fn extended_test(&mut self, expr: &ast::ExtendedTestExpr, depth: usize) {
        match expr {
            ast::ExtendedTestExpr::And(a, b) | ast::ExtendedTestExpr::Or(a, b) => {
                self.extended_test(a, depth);
                self.extended_test(b, depth);
            }
            ast::ExtendedTestExpr::Not(a) | ast::ExtendedTestExpr::Parenthesized(a) => self.extended_test(a, depth),
            ast::ExtendedTestExpr::UnaryTest(_, w) => {
                self.word(&w.value, depth);
            }
            ast::ExtendedTestExpr::BinaryTest(_, a, b) => {
                self.word(&a.value, depth);
                self.word(&b.value, depth);
            }
        }
    }

    fn compound(&mut self, compound: &ast::CompoundCommand, depth: usize) {
        match compound {
            ast::CompoundCommand::Arithmetic(a) => self.arithmetic(&a.expr.value, depth),
            ast::CompoundCommand::ArithmeticForClause(f) => {
                for expr in [&f.initializer, &f.condition, &f.updater].into_iter().flatten() {
                    self.arithmetic(&expr.value, depth);
                }
                self.list(&f.body.list, depth);
            }
            ast::CompoundCommand::BraceGroup(b) => self.list(&b.list, depth),
            ast::CompoundCommand::Subshell(s) => self.list(&s.list, depth),
            ast::CompoundCommand::ForClause(f) => {
                for w in f.values.iter().flatten() {
                    self.word(&w.value, depth);
                }
                self.list(&f.body.list, depth);
            }
            ast::CompoundCommand::CaseClause(c) => {
                self.word(&c.value.value, depth);
                for item in &c.cases {
                    for p in &item.patterns {
                        self.word(&p.value, depth);
                    }
                    if let Some(cmd) = &item.cmd {
                        self.list(cmd, depth);
                    }
                }
            }
            ast::CompoundCommand::IfClause(i) => {
                self.list(&i.condition, depth);
                self.list(&i.then, depth);
                for e in i.elses.iter().flatten() {
                    if let Some(c) = &e.condition {
                        self.list(c, depth);
                    }
                    self.list(&e.body, depth);
                }
            }
            ast::CompoundCommand::WhileClause(w) | ast::CompoundCommand::UntilClause(w) => {
                self.list(&w.0, depth);
                self.list(&w.1.list, depth);
            }
            ast::CompoundCommand::Coprocess(c) => self.command(&c.body, depth),
        }
    }

    fn simple(&mut self, simple: &ast::SimpleCommand, depth: usize) {
        // Before the name: assignments and redirections; after it: the arguments (and redirections).
        for item in simple.prefix.iter().flat_map(|p| p.0.iter()) {
            match item {
                ast::CommandPrefixOrSuffixItem::AssignmentWord(assignment, _) => self.assignment(assignment, depth),
                other => self.item(other, depth, &mut Vec::new()),
            }
        }
        let mut words = Vec::new();
        if let Some(name) = &simple.word_or_name {
            words.push(self.word(&name.value, depth));
        }
        for item in simple.suffix.iter().flat_map(|s| s.0.iter()) {
            self.item(item, depth, &mut words);
        }
        self.judge(words, depth);
    }

    fn item(&mut self, item: &ast::CommandPrefixOrSuffixItem, depth: usize, words: &mut Vec<Word>) {
        match item {
            // `export X=..` passes the assignment as an argument.
            ast::CommandPrefixOrSuffixItem::Word(w) | ast::CommandPrefixOrSuffixItem::AssignmentWord(_, w) => words.push(self.word(&w.value, depth)),
            ast::CommandPrefixOrSuffixItem::IoRedirect(r) => self.redirect(r, depth),
            ast::CommandPrefixOrSuffixItem::ProcessSubstitution(_, sub) => self.process_substitution(sub, depth),
        }
    }

    fn assignment(&mut self, assignment: &ast::Assignment, depth: usize) {
        match &assignment.value {
            ast::AssignmentValue::Scalar(w) => {
                self.word(&w.value, depth);
            }
            ast::AssignmentValue::Array(values) => {
                for (key, value) in values {
                    if let Some(key) = key {
                        self.word(&key.value, depth);
                    }
                    self.word(&value.value, depth);
                }
            }
        }
    }

    fn process_substitution(&mut self, sub: &ast::SubshellCommand, depth: usize) {
        self.unjudged("a process substitution `<(..)` runs commands of its own".to_string());
        self.list(&sub.list, depth + 1);
    }

    fn redirect(&mut self, redirect: &ast::IoRedirect, depth: usize) {
        match redirect {
            ast::IoRedirect::File(_, _, target) => match target {
                ast::IoFileRedirectTarget::Filename(w) | ast::IoFileRedirectTarget::Duplicate(w) => {
                    self.word(&w.value, depth);
                }
                ast::IoFileRedirectTarget::Fd(_) => {}
                ast::IoFileRedirectTarget::ProcessSubstitution(_, sub) => self.process_substitution(sub, depth),
            },
            ast::IoRedirect::HereDocument(_, doc) => self.heredoc(doc, depth),
            ast::IoRedirect::HereString(_, w) | ast::IoRedirect::OutputAndError(w, _) => {
                self.word(&w.value, depth);
            }
        }
    }

    fn heredoc(&mut self, doc: &ast::IoHereDocument, depth: usize) {
        if self.has_marker(&doc.here_end.value) {
            self.problems.push("a `${..}` cannot be part of a heredoc's delimiter".to_string());
        }
        if doc.requires_expansion {
            match brush_parser::word::parse_heredoc(&doc.doc.value, &options()) {
                Ok(pieces) => {
                    self.pieces(&doc.doc.value, &pieces, Context::Heredoc, depth);
                }
                Err(e) => {
                    self.unknowable(format!("a heredoc cannot be read ({e})"));
                    self.problems.push(format!("a heredoc cannot be read: {e}"));
                }
            }
        } else {
            self.quoted_heredocs.push(doc.doc.value.clone());
            let delimiter = brush_parser::unquote_str(&doc.here_end.value);
            for n in self.markers_in(&doc.doc.value) {
                self.place(n, Place::QuotedHeredoc { delimiter: delimiter.clone(), strip_tabs: doc.remove_tabs });
            }
        }
    }

    fn arithmetic(&mut self, text: &str, depth: usize) {
        for n in self.markers_in(text) {
            self.place(n, Place::Arithmetic);
        }
        // Text that is not arithmetic may be read as a command in a subshell (bash does, after `$((`).
        if brush_parser::arithmetic::parse(text).is_err() {
            let marker = self.marker.take();
            self.unjudged(format!("`$(({text}))` is not arithmetic, and a shell may run it as commands"));
            self.program_text(&format!("({text})"), depth + 1);
            self.marker = marker;
        }
        // Substitutions inside run commands; the references in them were placed above.
        if text.contains("$(") || text.contains('`') {
            let marker = self.marker.take();
            self.word(text, depth);
            self.marker = marker;
        }
    }

    /// A word's text after quote removal (expansions as written), noting what runs inside it.
    fn word(&mut self, raw: &str, depth: usize) -> Word {
        match brush_parser::word::parse(raw, &options()) {
            Ok(pieces) => self.pieces(raw, &pieces, Context::Plain, depth),
            Err(e) => {
                self.unknowable(format!("the word `{raw}` cannot be read ({e})"));
                self.problems.push(format!("the word `{raw}` cannot be read as shell syntax: {e}"));
                Word { text: raw.to_string(), literal: false }
            }
        }
    }

    fn pieces(&mut self, raw: &str, pieces: &[WordPieceWithSource], context: Context, depth: usize) -> Word {
        let mut word = Word { text: String::new(), literal: true };
        for piece in pieces {
            let source = raw.get(piece.start_index..piece.end_index).unwrap_or_default();
            match &piece.piece {
                // A workflow reference (`${id.field}`) is data known only when the step runs.
                WordPiece::Text(text) => {
                    word.text.push_str(text);
                    word.literal &= !text.contains('$');
                }
                WordPiece::SingleQuotedText(text) => {
                    for n in self.markers_in(text) {
                        self.place(n, Place::SingleQuoted);
                    }
                    word.text.push_str(text);
                    word.literal &= !text.contains("${");
                }
                WordPiece::AnsiCQuotedText(text) => {
                    if !self.markers_in(text).is_empty() {
                        self.problems.push("a `${..}` cannot stand inside `$'..'`".to_string());
                    }
                    word.text.push_str(text);
                }
                WordPiece::DoubleQuotedSequence(inner) | WordPiece::GettextDoubleQuotedSequence(inner) => {
                    let inner = self.pieces(raw, inner, Context::DoubleQuoted, depth);
                    word.text.push_str(&inner.text);
                    word.literal &= inner.literal;
                }
                WordPiece::EscapeSequence(text) => {
                    let escaped = text.strip_prefix('\\').unwrap_or(text);
                    // In double quotes a backslash escapes only `$`, `` ` ``, `"`, `\` and a newline.
                    if context == Context::DoubleQuoted && !escaped.starts_with(['$', '`', '"', '\\', '\n']) {
                        word.text.push_str(text);
                    } else {
                        word.text.push_str(escaped);
                    }
                }
                WordPiece::TildeExpansion(_) => {
                    word.text.push_str(source);
                    word.literal = false;
                }
                WordPiece::ParameterExpansion(expr) => {
                    word.text.push_str(source);
                    word.literal = false;
                    self.parameter(expr, context, depth);
                }
                WordPiece::CommandSubstitution(text) => {
                    word.text.push_str(source);
                    word.literal = false;
                    self.unjudged(format!("the command substitution `{source}` runs commands of its own"));
                    self.program_text(text, depth + 1);
                }
                WordPiece::BackquotedCommandSubstitution(text) => {
                    word.text.push_str(source);
                    word.literal = false;
                    self.unjudged(format!("the command substitution {source} runs commands of its own"));
                    let text = text.replace("\\$", "$").replace("\\\\", "\\");
                    self.program_text(&text, depth + 1);
                }
                WordPiece::ArithmeticExpression(expr) => {
                    word.text.push_str(source);
                    word.literal = false;
                    self.arithmetic(&expr.value, depth);
                }
            }
        }
        word
    }

    fn parameter(&mut self, expr: &ParameterExpr, context: Context, depth: usize) {
        if let ParameterExpr::Parameter { parameter: Parameter::Named(name), indirect: false } = expr {
            if let Some(n) = self.marker_number(name) {
                let place = match context {
                    Context::Plain => Place::Plain,
                    Context::DoubleQuoted => Place::DoubleQuoted,
                    Context::Heredoc => Place::Heredoc,
                };
                self.place(n, place);
            }
            return;
        }
        // The words inside `${VAR:-word}` and its kin may hold substitutions (and references, which are refused there).
        let text = format!("{expr:?}");
        if !self.markers_in(&text).is_empty() {
            self.problems.push("a `${..}` cannot stand inside a shell parameter expansion such as `${VAR:-..}`; set a shell variable first".to_string());
        }
        let marker = self.marker.take();
        for inner in parameter_words(expr) {
            self.word(inner, depth);
        }
        self.marker = marker;
    }

    /// What the simple command `words` runs: itself, and what it runs in turn.
    fn judge(&mut self, words: Vec<Word>, depth: usize) {
        let Some(name) = words.first().cloned() else { return };
        self.reading.commands.push(SimpleCommand { words: words.clone() });
        if !name.literal {
            self.unknowable(format!("the command's name `{}` is only known when it runs", name.text));
            return;
        }
        let program = name.text.rsplit('/').next().unwrap_or_default().to_string();
        let args = &words[1..];
        let literal_args = || args.iter().all(|w| w.literal).then(|| args.iter().map(|w| w.text.as_str()).collect::<Vec<_>>().join(" "));
        match program.as_str() {
            "eval" => {
                self.unjudged("`eval` runs its arguments as a command".to_string());
                match literal_args() {
                    Some(text) => self.program_text(&text, depth + 1),
                    None => self.unknowable("`eval` runs text that is only known when it runs".to_string()),
                }
            }
            "source" | "." => self.unjudged(format!("`{program}` runs the commands of a file")),
            // A shell given a script file is a command like `./script` (its file is not read);
            // given a command string or its standard input, it runs what no pattern has seen.
            shell if SHELLS.contains(&shell) => {
                let first_operand = args.iter().position(|w| !w.literal || !w.text.starts_with('-'));
                let options = &args[..first_operand.unwrap_or(args.len())];
                let short = |flag: char| options.iter().any(|w| !w.text.starts_with("--") && w.text.contains(flag));
                match first_operand.map(|i| &args[i]) {
                    _ if short('c') => {
                        self.unjudged(format!("`{program} -c` runs commands of its own"));
                        match first_operand.map(|i| &args[i]) {
                            Some(script) if script.literal => self.program_text(&script.text, depth + 1),
                            _ => self.unknowable(format!("`{program} -c` runs text that is only known when it runs")),
                        }
                    }
                    Some(script) if script.literal && !short('s') => {}
                    Some(_) if !short('s') => self.unknowable(format!("`{program}` runs a script whose name is only known when it runs")),
                    _ => self.unknowable(format!("`{program}` reads the commands it runs from its standard input")),
                }
            }
            wrapper if WRAPPERS.contains(&wrapper) && !args.is_empty() => {
                self.unjudged(format!("`{program}` runs another command"));
                self.wrapped(args, depth);
            }
            "find" => {
                let runs = args.iter().position(|w| matches!(w.text.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir"));
                if let Some(at) = runs {
                    self.unjudged("`find -exec` runs another command".to_string());
                    self.wrapped(&args[at + 1..], depth);
                }
            }
            _ => {}
        }
    }

    /// The command a wrapper runs is one of its argument lists' tails (options
    /// and their values come first): each is judged, so a deny pattern sees it
    /// whichever it is.
    fn wrapped(&mut self, args: &[Word], depth: usize) {
        if depth >= MAX_DEPTH {
            self.unknowable("commands nested too deeply to follow".to_string());
            return;
        }
        for start in 0..args.len() {
            self.judge(args[start..].to_vec(), depth + 1);
        }
    }

    fn marker_number(&self, name: &str) -> Option<usize> {
        let marker = self.marker.as_deref()?;
        name.strip_prefix(marker)?.parse().ok()
    }

    fn has_marker(&self, text: &str) -> bool {
        !self.markers_in(text).is_empty()
    }

    /// The numbers of the references written `${MARKERn}` in `text`.
    fn markers_in(&self, text: &str) -> Vec<usize> {
        let Some(marker) = self.marker.as_deref() else { return Vec::new() };
        let open = format!("${{{marker}");
        let mut found = Vec::new();
        let mut rest = text;
        while let Some(at) = rest.find(&open) {
            rest = &rest[at + open.len()..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let (Ok(n), true) = (digits.parse(), rest[digits.len()..].starts_with('}')) {
                found.push(n);
            }
        }
        found
    }

    fn place(&mut self, n: usize, place: Place) {
        if self.marker.is_some() {
            if let Some(earlier) = self.places.insert(n, place.clone()) {
                if earlier != place {
                    self.problems.push(format!("reference {n} is read in two ways ({earlier:?}, {place:?})"));
                }
            }
        }
    }
}

/// Where a word piece stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Context {
    Plain,
    DoubleQuoted,
    Heredoc,
}

/// The words inside a parameter expansion (`${VAR:-word}`, `${VAR#pattern}`...).
fn parameter_words(expr: &ParameterExpr) -> Vec<&str> {
    use ParameterExpr as P;
    let word = match expr {
        P::UseDefaultValues { default_value: w, .. } | P::AssignDefaultValues { default_value: w, .. } => w.as_deref(),
        P::IndicateErrorIfNullOrUnset { error_message: w, .. } => w.as_deref(),
        P::UseAlternativeValue { alternative_value: w, .. } => w.as_deref(),
        P::RemoveSmallestSuffixPattern { pattern: w, .. }
        | P::RemoveLargestSuffixPattern { pattern: w, .. }
        | P::RemoveSmallestPrefixPattern { pattern: w, .. }
        | P::RemoveLargestPrefixPattern { pattern: w, .. }
        | P::UppercaseFirstChar { pattern: w, .. }
        | P::UppercasePattern { pattern: w, .. }
        | P::LowercaseFirstChar { pattern: w, .. }
        | P::LowercasePattern { pattern: w, .. } => w.as_deref(),
        P::ReplaceSubstring { pattern, replacement, .. } => return [Some(pattern.as_str()), replacement.as_deref()].into_iter().flatten().collect(),
        P::Substring { offset, length, .. } => return [Some(offset.value.as_str()), length.as_ref().map(|l| l.value.as_str())].into_iter().flatten().collect(),
        _ => None,
    };
    word.into_iter().collect()
}
