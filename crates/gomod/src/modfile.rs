//! go.mod parsing, after Go's `golang.org/x/mod/modfile`.
//!
//! [`parse`] is strict (a main module: unknown directives and block types are
//! errors); [`parse_lax`] is Go's `ParseLax` for dependencies' go.mod files:
//! only `module`, `go`, `require`, `retract` and `ignore` are interpreted and
//! everything else is ignored. Errors carry Go's wording and positions
//! (`go.mod:3: unknown directive: foo`).
//!
//! ```
//! let f = gomod::modfile::parse("go.mod", b"module example.com/m\n\ngo 1.22\n\nrequire (\n\texample.com/x v1.2.3 // indirect\n)\n").unwrap();
//! assert_eq!(f.module.unwrap().path, "example.com/m");
//! assert!(f.require[0].indirect);
//! ```

use std::fmt;

use crate::module;
use crate::quote::{go_quote, go_quote_rune};
use crate::semver;

/// A position in the file (1-based line and column in runes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line number.
    pub line: usize,
    /// Column, in runes.
    pub col: usize,
}

/// One error, formatted like Go's `modfile.Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModFileError {
    /// The file name given to the parser.
    pub file: String,
    /// Where.
    pub pos: Pos,
    /// The directive and module path prefix (`require example.com/x: `), if any.
    pub directive: String,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for ModFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.pos.col > 1 {
            write!(f, "{}:{}:{}: ", self.file, self.pos.line, self.pos.col)?;
        } else if self.pos.line > 0 {
            write!(f, "{}:{}: ", self.file, self.pos.line)?;
        } else if !self.file.is_empty() {
            write!(f, "{}: ", self.file)?;
        }
        write!(f, "{}{}", self.directive, self.message)
    }
}

/// All errors found in one go.mod (Go reports them one per line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", .errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct ModFileErrors {
    /// The errors, in file order.
    pub errors: Vec<ModFileError>,
}

/// The `module` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleStmt {
    /// The module path.
    pub path: String,
    /// The `Deprecated:` paragraph of its comments, if any.
    pub deprecated: Option<String>,
    /// Line number.
    pub line: usize,
}

/// The `go` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoStmt {
    /// The version (`1.22`, `1.21.3`, `1.23rc1`).
    pub version: String,
    /// Line number.
    pub line: usize,
}

/// The `toolchain` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolchainStmt {
    /// The toolchain name (`go1.22.1` or `default`).
    pub name: String,
    /// Line number.
    pub line: usize,
}

/// A `godebug key=value` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Godebug {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
    /// Line number.
    pub line: usize,
}

/// A `require` (or `exclude`) line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Require {
    /// Module path.
    pub path: String,
    /// Canonical version.
    pub version: String,
    /// Marked `// indirect`.
    pub indirect: bool,
    /// Line number.
    pub line: usize,
}

/// A `replace` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replace {
    /// Replaced module path.
    pub old_path: String,
    /// Replaced version, or `None` for all versions.
    pub old_version: Option<String>,
    /// Replacement module path or directory.
    pub new_path: String,
    /// Replacement version (`None` for a directory).
    pub new_version: Option<String>,
    /// Line number.
    pub line: usize,
}

/// A `retract` line: one version or a closed interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retract {
    /// Lowest retracted version.
    pub low: String,
    /// Highest retracted version (equal to `low` for one version).
    pub high: String,
    /// The comment text on the line (or on its block), the reason.
    pub rationale: String,
    /// Line number.
    pub line: usize,
}

/// A `tool` or `ignore` line (a single path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PathStmt {
    /// The path.
    pub path: String,
    /// Line number.
    pub line: usize,
}

/// A parsed go.mod.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ModFile {
    /// `module`.
    pub module: Option<ModuleStmt>,
    /// `go`.
    pub go: Option<GoStmt>,
    /// `toolchain`.
    pub toolchain: Option<ToolchainStmt>,
    /// `godebug`.
    pub godebug: Vec<Godebug>,
    /// `require`.
    pub require: Vec<Require>,
    /// `exclude`.
    pub exclude: Vec<Require>,
    /// `replace`.
    pub replace: Vec<Replace>,
    /// `retract`.
    pub retract: Vec<Retract>,
    /// `tool`.
    pub tool: Vec<PathStmt>,
    /// `ignore`.
    pub ignore: Vec<PathStmt>,
}

/// Parses a main module's go.mod strictly (Go's `modfile.Parse`).
pub fn parse(file: &str, data: &[u8]) -> Result<ModFile, ModFileErrors> {
    parse_to_file(file, data, true)
}

/// Parses a dependency's go.mod (Go's `modfile.ParseLax`).
pub fn parse_lax(file: &str, data: &[u8]) -> Result<ModFile, ModFileErrors> {
    parse_to_file(file, data, false)
}

// ---------------------------------------------------------------------------
// Lexer and syntax
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Newline,
    Comment(String),    // whole-line comment (consumes its newline)
    EolComment(String), // comment after tokens (consumes its newline)
    Punct(char),
    Str(String),
    Ident(String),
    Eof,
}

impl Tok {
    fn is_eol(&self) -> bool {
        matches!(self, Tok::Newline | Tok::EolComment(_) | Tok::Eof)
    }
}

struct Token {
    tok: Tok,
    pos: Pos,
}

struct Lexer<'a> {
    src: &'a str,
    i: usize,
    pos: Pos,
}

fn is_ident(c: char) -> bool {
    !matches!(c, ' ' | '(' | ')' | '[' | ']' | '{' | '}' | ',')
        && !c.is_whitespace()
        && !c.is_control()
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.i..].chars().next()
    }
    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += c.len_utf8();
        if c == '\n' {
            self.pos.line += 1;
            self.pos.col = 1;
        } else {
            self.pos.col += 1;
        }
        Some(c)
    }
    fn starts(&self, p: &str) -> bool {
        self.src[self.i..].starts_with(p)
    }
    fn err(&self, pos: Pos, msg: impl Into<String>) -> (Pos, String) {
        (pos, msg.into())
    }

    fn next(&mut self) -> Result<Token, (Pos, String)> {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\r') => {
                    self.bump();
                }
                _ if self.starts("//") => {
                    let pos = self.pos;
                    let line_start = self.src[..self.i].rfind('\n').map_or(0, |k| k + 1);
                    let suffix = !self.src[line_start..self.i].trim().is_empty();
                    let start = self.i;
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                    let text = self.src[start..self.i].trim_end_matches('\n').to_string();
                    return Ok(Token {
                        tok: if suffix {
                            Tok::EolComment(text)
                        } else {
                            Tok::Comment(text)
                        },
                        pos,
                    });
                }
                _ if self.starts("/*") => {
                    return Err(self.err(
                        self.pos,
                        "mod files must use // comments (not /* */ comments)",
                    ));
                }
                _ => break,
            }
        }
        let pos = self.pos;
        let Some(c) = self.peek() else {
            return Ok(Token { tok: Tok::Eof, pos });
        };
        match c {
            '\n' | '(' | ')' | '[' | ']' | '{' | '}' | ',' => {
                self.bump();
                let tok = if c == '\n' {
                    Tok::Newline
                } else {
                    Tok::Punct(c)
                };
                Ok(Token { tok, pos })
            }
            '"' | '`' => {
                let start = self.i;
                self.bump();
                loop {
                    match self.peek() {
                        None => return Err(self.err(pos, "unexpected EOF in string")),
                        Some('\n') => {
                            return Err(self.err(self.pos, "unexpected newline in string"));
                        }
                        _ => {}
                    }
                    let d = self.bump();
                    if d == Some(c) {
                        break;
                    }
                    if d == Some('\\') && c != '`' {
                        if self.peek().is_none() {
                            return Err(self.err(pos, "unexpected EOF in string"));
                        }
                        self.bump();
                    }
                }
                Ok(Token {
                    tok: Tok::Str(self.src[start..self.i].to_string()),
                    pos,
                })
            }
            c if !is_ident(c) => Err(self.err(
                pos,
                format!("unexpected input character {}", go_quote_rune(c)),
            )),
            _ => {
                let start = self.i;
                while let Some(d) = self.peek() {
                    if !is_ident(d) || self.starts("//") {
                        break;
                    }
                    if self.starts("/*") {
                        return Err(self.err(
                            self.pos,
                            "mod files must use // comments (not /* */ comments)",
                        ));
                    }
                    self.bump();
                }
                Ok(Token {
                    tok: Tok::Ident(self.src[start..self.i].to_string()),
                    pos,
                })
            }
        }
    }
}

#[derive(Debug, Default)]
struct Line {
    pos: Pos,
    tokens: Vec<String>,
    before: Vec<String>,
    suffix: Vec<String>,
}

#[derive(Debug)]
enum Stmt {
    Line(Line),
    Block {
        pos: Pos,
        tokens: Vec<String>,
        before: Vec<String>,
        lines: Vec<Line>,
    },
}

struct Parser<'a> {
    lx: Lexer<'a>,
    ahead: Option<Token>,
}

impl Parser<'_> {
    fn peek(&mut self) -> Result<&Tok, (Pos, String)> {
        if self.ahead.is_none() {
            self.ahead = Some(self.lx.next()?);
        }
        Ok(&self.ahead.as_ref().expect("just filled").tok)
    }
    fn lex(&mut self) -> Result<Token, (Pos, String)> {
        match self.ahead.take() {
            Some(t) => Ok(t),
            None => self.lx.next(),
        }
    }

    fn file(&mut self) -> Result<Vec<Stmt>, (Pos, String)> {
        let mut stmts = Vec::new();
        let mut cb: Vec<String> = Vec::new();
        loop {
            match self.peek()?.clone() {
                Tok::Newline => {
                    self.lex()?;
                    cb.clear();
                }
                Tok::Comment(text) => {
                    self.lex()?;
                    cb.push(text);
                }
                Tok::Eof => return Ok(stmts),
                _ => {
                    let mut s = self.stmt()?;
                    match &mut s {
                        Stmt::Line(l) => l.before = std::mem::take(&mut cb),
                        Stmt::Block { before, .. } => *before = std::mem::take(&mut cb),
                    }
                    stmts.push(s);
                }
            }
        }
    }

    fn text(t: &Tok) -> String {
        match t {
            Tok::Punct(c) => c.to_string(),
            Tok::Str(s) | Tok::Ident(s) => s.clone(),
            _ => String::new(),
        }
    }

    fn stmt(&mut self) -> Result<Stmt, (Pos, String)> {
        let first = self.lex()?;
        let pos = first.pos;
        let mut tokens = vec![Self::text(&first.tok)];
        loop {
            let t = self.lex()?;
            if t.tok.is_eol() {
                let mut l = Line {
                    pos,
                    tokens,
                    ..Line::default()
                };
                if let Tok::EolComment(c) = t.tok {
                    l.suffix.push(c);
                }
                return Ok(Stmt::Line(l));
            }
            if t.tok == Tok::Punct('(') {
                if self.peek()?.is_eol() {
                    // The comment after "(" belongs to the block line itself.
                    let t = self.lex()?;
                    let _ = t;
                    let lines = self.block(pos)?;
                    return Ok(Stmt::Block {
                        pos,
                        tokens,
                        before: Vec::new(),
                        lines,
                    });
                } else if *self.peek()? == Tok::Punct(')') {
                    self.lex()?;
                    if self.peek()?.is_eol() {
                        self.lex()?;
                        return Ok(Stmt::Block {
                            pos,
                            tokens,
                            before: Vec::new(),
                            lines: Vec::new(),
                        });
                    }
                    tokens.push("(".into());
                    tokens.push(")".into());
                } else {
                    tokens.push("(".into());
                }
                continue;
            }
            tokens.push(Self::text(&t.tok));
        }
    }

    fn block(&mut self, start: Pos) -> Result<Vec<Line>, (Pos, String)> {
        let mut lines = Vec::new();
        let mut comments: Vec<String> = Vec::new();
        loop {
            match self.peek()?.clone() {
                Tok::EolComment(_) | Tok::Newline => {
                    self.lex()?;
                }
                Tok::Comment(text) => {
                    self.lex()?;
                    comments.push(text);
                }
                Tok::Eof => {
                    let at = self.lx.pos;
                    return Err((
                        at,
                        format!(
                            "syntax error (unterminated block started at {{FILE}}:{}:{})",
                            start.line, start.col
                        ),
                    ));
                }
                Tok::Punct(')') => {
                    self.lex()?;
                    if !self.peek()?.is_eol() {
                        let at = self.lx.pos;
                        return Err((
                            at,
                            "syntax error (expected newline after closing paren)".into(),
                        ));
                    }
                    self.lex()?;
                    return Ok(lines);
                }
                _ => {
                    let first = self.lex()?;
                    let mut l = Line {
                        pos: first.pos,
                        tokens: vec![Self::text(&first.tok)],
                        before: std::mem::take(&mut comments),
                        ..Line::default()
                    };
                    loop {
                        let t = self.lex()?;
                        if t.tok.is_eol() {
                            if let Tok::EolComment(c) = t.tok {
                                l.suffix.push(c);
                            }
                            break;
                        }
                        l.tokens.push(Self::text(&t.tok));
                    }
                    lines.push(l);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Directives
// ---------------------------------------------------------------------------

fn go_version_ok(v: &str) -> bool {
    // ^([1-9][0-9]*)\.(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))?([a-z]+[0-9]+)?$
    let num = |s: &str| -> Option<usize> {
        let n = s.bytes().take_while(|b| b.is_ascii_digit()).count();
        if n == 0 || (n > 1 && s.starts_with('0')) {
            None
        } else {
            Some(n)
        }
    };
    let Some(n) = num(v) else { return false };
    if v.starts_with('0') {
        return false;
    }
    let rest = &v[n..];
    let Some(rest) = rest.strip_prefix('.') else {
        return false;
    };
    let Some(n) = num(rest) else { return false };
    let mut rest = &rest[n..];
    if let Some(r) = rest.strip_prefix('.') {
        let Some(n) = num(r) else { return false };
        rest = &r[n..];
    }
    if rest.is_empty() {
        return true;
    }
    let letters = rest.bytes().take_while(|b| b.is_ascii_lowercase()).count();
    let digits = rest[letters..]
        .bytes()
        .take_while(|b| b.is_ascii_digit())
        .count();
    letters > 0 && digits > 0 && letters + digits == rest.len()
}

fn lax_go_version(v: &str) -> Option<String> {
    // ^v?(([1-9][0-9]*)\.(0|[1-9][0-9]*))([^0-9].*)$
    let s = v.strip_prefix('v').unwrap_or(v);
    let n = s.bytes().take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || s.starts_with('0') {
        return None;
    }
    let rest = s[n..].strip_prefix('.')?;
    let m = rest.bytes().take_while(|b| b.is_ascii_digit()).count();
    if m == 0 || (m > 1 && rest.starts_with('0')) {
        return None;
    }
    let tail = &rest[m..];
    if tail.is_empty() || tail.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some(s[..n + 1 + m].to_string())
}

/// Go's `strconv.Unquote` for a double-quoted string.
fn unquote(s: &str) -> Result<String, String> {
    let inner = s
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .ok_or_else(|| "invalid syntax".to_string())?;
    let mut out = String::new();
    let mut it = inner.chars().peekable();
    let bad = || "invalid syntax".to_string();
    while let Some(c) = it.next() {
        if c == '"' {
            return Err(bad());
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let e = it.next().ok_or_else(bad)?;
        let hex =
            |it: &mut std::iter::Peekable<std::str::Chars<'_>>, n: usize| -> Result<u32, String> {
                let mut v = 0u32;
                for _ in 0..n {
                    let d = it.next().and_then(|c| c.to_digit(16)).ok_or_else(bad)?;
                    v = v * 16 + d;
                }
                Ok(v)
            };
        match e {
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'f' => out.push('\u{c}'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\u{b}'),
            '\\' => out.push('\\'),
            '"' => out.push('"'),
            'x' => {
                let v = hex(&mut it, 2)?;
                if v >= 0x80 {
                    // A raw byte: not representable in a Rust String unless ASCII.
                    return Err(bad());
                }
                out.push(char::from_u32(v).ok_or_else(bad)?);
            }
            'u' => out.push(char::from_u32(hex(&mut it, 4)?).ok_or_else(bad)?),
            'U' => out.push(char::from_u32(hex(&mut it, 8)?).ok_or_else(bad)?),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    v = v * 8 + it.next().and_then(|c| c.to_digit(8)).ok_or_else(bad)?;
                }
                if v >= 0x80 {
                    return Err(bad());
                }
                out.push(char::from_u32(v).ok_or_else(bad)?);
            }
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

fn parse_string(s: &str) -> Result<String, String> {
    if s.starts_with('"') {
        unquote(s)
    } else if s.contains(['"', '\'', '`']) {
        Err("unquoted string cannot contain quote".into())
    } else {
        Ok(s.to_string())
    }
}

struct Ctx<'a> {
    file: &'a str,
    errors: Vec<ModFileError>,
}

impl Ctx<'_> {
    fn err(&mut self, pos: Pos, directive: String, message: String) {
        self.errors.push(ModFileError {
            file: self.file.to_string(),
            pos,
            directive,
            message,
        });
    }
}

fn parse_version(verb: &str, path: &str, s: &str) -> Result<String, (String, String)> {
    let directive = if path.is_empty() {
        format!("{verb}: ")
    } else {
        format!("{verb} {path}: ")
    };
    let t = parse_string(s).map_err(|e| {
        (
            directive.clone(),
            format!("version {} invalid: {e}", go_quote(s)),
        )
    })?;
    let cv = semver::canonical_version(&t);
    if cv.is_empty() {
        return Err((
            directive,
            format!(
                "version {} invalid: must be of the form v1.2.3",
                go_quote(&t)
            ),
        ));
    }
    Ok(cv)
}

fn path_major(path: &str) -> Result<String, String> {
    let (_, major, ok) = module::split_path_version(path);
    if !ok {
        return Err("invalid module path".into());
    }
    Ok(major.to_string())
}

fn is_indirect(l: &Line) -> bool {
    let Some(c) = l.suffix.first() else {
        return false;
    };
    let f: Vec<&str> = c.trim_start_matches("//").split_whitespace().collect();
    (f.len() == 1 && f[0] == "indirect") || (f.len() > 1 && f[0] == "indirect;")
}

fn comment_text(comments: &[String]) -> String {
    comments
        .iter()
        .filter(|c| c.starts_with("//"))
        .map(|c| c.trim_start_matches("//").trim().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

fn directive_comment(block_before: Option<&[String]>, l: &Line) -> String {
    if let Some(b) = block_before
        && l.before.is_empty()
        && l.suffix.is_empty()
    {
        return comment_text(b);
    }
    let mut all = l.before.clone();
    all.extend(l.suffix.iter().cloned());
    comment_text(&all)
}

fn deprecation(text: &str) -> Option<String> {
    for para in text.split("\n\n") {
        if let Some(rest) = para.strip_prefix("Deprecated:") {
            return Some(rest.trim_start_matches(' ').to_string());
        }
    }
    None
}

fn add(
    f: &mut ModFile,
    cx: &mut Ctx<'_>,
    block: Option<&[String]>,
    l: &Line,
    verb: &str,
    args: &[String],
    strict: bool,
) {
    if !strict && !matches!(verb, "go" | "module" | "retract" | "require" | "ignore") {
        return;
    }
    let pos = l.pos;
    let line = pos.line;
    let errorf = |cx: &mut Ctx<'_>, m: String| cx.err(pos, String::new(), m);
    match verb {
        "go" => {
            if f.go.is_some() {
                return errorf(cx, "repeated go statement".into());
            }
            if args.len() != 1 {
                return errorf(cx, "go directive expects exactly one argument".into());
            }
            let mut v = args[0].clone();
            if !go_version_ok(&v) {
                match (!strict).then(|| lax_go_version(&v)).flatten() {
                    Some(fixed) => v = fixed,
                    None => {
                        return errorf(
                            cx,
                            format!("invalid go version '{v}': must match format 1.23.0"),
                        );
                    }
                }
            }
            f.go = Some(GoStmt { version: v, line });
        }
        "toolchain" => {
            if f.toolchain.is_some() {
                return errorf(cx, "repeated toolchain statement".into());
            }
            if args.len() != 1 {
                return errorf(
                    cx,
                    "toolchain directive expects exactly one argument".into(),
                );
            }
            let a = &args[0];
            if !(a == "default" || a == "go1" || a.starts_with("go1.")) {
                return errorf(
                    cx,
                    format!(
                        "invalid toolchain version '{a}': must match format go1.23.0 or default"
                    ),
                );
            }
            f.toolchain = Some(ToolchainStmt {
                name: a.clone(),
                line,
            });
        }
        "module" => {
            if f.module.is_some() {
                return errorf(cx, "repeated module statement".into());
            }
            // Like Go, the statement counts even when its argument is bad.
            let deprecated = deprecation(&directive_comment(block, l));
            let stmt = f.module.insert(ModuleStmt {
                path: String::new(),
                deprecated,
                line,
            });
            if args.len() != 1 {
                return errorf(cx, "usage: module module/path".into());
            }
            match parse_string(&args[0]) {
                Ok(path) => stmt.path = path,
                Err(e) => errorf(cx, format!("invalid quoted string: {e}")),
            }
        }
        "godebug" => {
            if args.len() != 1 || args[0].contains(['"', '`', '\'', ',']) {
                return errorf(cx, "usage: godebug key=value".into());
            }
            let Some((k, v)) = args[0].split_once('=') else {
                return errorf(cx, "usage: godebug key=value".into());
            };
            f.godebug.push(Godebug {
                key: k.into(),
                value: v.into(),
                line,
            });
        }
        "require" | "exclude" => {
            if args.len() != 2 {
                return errorf(cx, format!("usage: {verb} module/path v1.2.3"));
            }
            let path = match parse_string(&args[0]) {
                Ok(p) => p,
                Err(e) => return errorf(cx, format!("invalid quoted string: {e}")),
            };
            let v = match parse_version(verb, &path, &args[1]) {
                Ok(v) => v,
                Err((d, m)) => return cx.err(pos, d, m),
            };
            let major = match path_major(&path) {
                Ok(m) => m,
                Err(m) => return errorf(cx, m),
            };
            if let Err(e) = module::check_path_major(&v, &major) {
                return cx.err(pos, format!("{verb} {path}: "), e.to_string());
            }
            let r = Require {
                path,
                version: v,
                indirect: is_indirect(l),
                line,
            };
            if verb == "require" {
                f.require.push(r);
            } else {
                f.exclude.push(r);
            }
        }
        "replace" => {
            if let Err((d, m)) = parse_replace(f, l, verb, args) {
                cx.err(pos, d, m);
            }
        }
        "retract" => {
            let rationale = directive_comment(block, l);
            let mut rest: &[String] = args;
            match parse_interval(verb, &mut rest) {
                Ok((low, high)) => {
                    if !rest.is_empty() && strict {
                        return errorf(
                            cx,
                            format!("unexpected token after version: {}", go_quote(&rest[0])),
                        );
                    }
                    f.retract.push(Retract {
                        low,
                        high,
                        rationale,
                        line,
                    });
                }
                Err((d, m)) => {
                    if strict {
                        cx.err(pos, d, m);
                    }
                }
            }
        }
        "tool" | "ignore" => {
            if args.len() != 1 {
                return errorf(cx, format!("{verb} directive expects exactly one argument"));
            }
            match parse_string(&args[0]) {
                Ok(path) => {
                    let s = PathStmt { path, line };
                    if verb == "tool" {
                        f.tool.push(s);
                    } else {
                        f.ignore.push(s);
                    }
                }
                Err(e) => errorf(cx, format!("invalid quoted string: {e}")),
            }
        }
        _ => errorf(cx, format!("unknown directive: {verb}")),
    }
}

fn is_directory_path(ns: &str) -> bool {
    ns.starts_with("./")
        || ns.starts_with("../")
        || ns.starts_with('/')
        || ns.starts_with(".\\")
        || ns.starts_with("..\\")
        || ns.starts_with('\\')
        || ns == "."
        || ns == ".."
        || (ns.len() >= 2 && ns.as_bytes()[1] == b':' && ns.as_bytes()[0].is_ascii_alphabetic())
}

fn parse_replace(
    f: &mut ModFile,
    l: &Line,
    verb: &str,
    args: &[String],
) -> Result<(), (String, String)> {
    let plain = |m: String| (String::new(), m);
    let arrow = if args.len() >= 2 && args[1] == "=>" {
        1
    } else {
        2
    };
    if args.len() < arrow + 2 || args.len() > arrow + 3 || args[arrow] != "=>" {
        return Err(plain(format!(
            "usage: {verb} module/path [v1.2.3] => other/module v1.4\n\t or {verb} module/path [v1.2.3] => ../local/directory"
        )));
    }
    let s = parse_string(&args[0]).map_err(|e| plain(format!("invalid quoted string: {e}")))?;
    let major = path_major(&s).map_err(|m| (format!("{verb} {s}: "), m))?;
    let mut old_version = None;
    if arrow == 2 {
        let v = parse_version(verb, &s, &args[1])?;
        module::check_path_major(&v, &major)
            .map_err(|e| (format!("{verb} {s}: "), e.to_string()))?;
        old_version = Some(v);
    }
    let ns =
        parse_string(&args[arrow + 1]).map_err(|e| plain(format!("invalid quoted string: {e}")))?;
    let mut new_version = None;
    if args.len() == arrow + 2 {
        if !is_directory_path(&ns) {
            if ns.contains('@') {
                return Err(plain(
                    "replacement module must match format 'path version', not 'path@version'"
                        .into(),
                ));
            }
            return Err(plain(
                "replacement module without version must be directory path (rooted or starting with . or ..)".into(),
            ));
        }
        if ns.contains('\\') {
            return Err(plain(
                "replacement directory appears to be Windows path (on a non-windows system)".into(),
            ));
        }
    }
    if args.len() == arrow + 3 {
        let nv = parse_version(verb, &ns, &args[arrow + 2])?;
        if is_directory_path(&ns) {
            return Err(plain(format!(
                "replacement module directory path {} cannot have version",
                go_quote(&ns)
            )));
        }
        new_version = Some(nv);
    }
    f.replace.push(Replace {
        old_path: s,
        old_version,
        new_path: ns,
        new_version,
        line: l.pos.line,
    });
    Ok(())
}

fn parse_interval(verb: &str, toks: &mut &[String]) -> Result<(String, String), (String, String)> {
    let plain = |m: &str| (String::new(), m.to_string());
    let t = *toks;
    if t.is_empty() || t[0] == "(" {
        return Err(plain("expected '[' or version"));
    }
    // Go parses retract versions with a fixer that keeps them as written
    // (only quoting is checked); they are not canonicalized.
    let parse_version = |_: &str, _: &str, s: &str| -> Result<String, (String, String)> {
        parse_string(s).map_err(|e| {
            (
                format!("{verb}: "),
                format!("version {} invalid: {e}", go_quote(s)),
            )
        })
    };
    if t[0] != "[" {
        let v = parse_version(verb, "", &t[0])?;
        *toks = &t[1..];
        return Ok((v.clone(), v));
    }
    let t = &t[1..];
    if t.is_empty() {
        return Err(plain("expected version after '['"));
    }
    let low = parse_version(verb, "", &t[0])?;
    let t = &t[1..];
    if t.is_empty() || t[0] != "," {
        return Err(plain("expected ',' after version"));
    }
    let t = &t[1..];
    if t.is_empty() {
        return Err(plain("expected version after ','"));
    }
    let high = parse_version(verb, "", &t[0])?;
    let t = &t[1..];
    if t.is_empty() || t[0] != "]" {
        return Err(plain("expected ']' after version"));
    }
    *toks = &t[1..];
    Ok((low, high))
}

fn parse_to_file(file: &str, data: &[u8], strict: bool) -> Result<ModFile, ModFileErrors> {
    let one = |pos: Pos, message: String| ModFileErrors {
        errors: vec![ModFileError {
            file: file.to_string(),
            pos,
            directive: String::new(),
            message: message.replace("{FILE}", file),
        }],
    };
    let text = std::str::from_utf8(data).map_err(|e| {
        let line = data[..e.valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1;
        one(Pos { line, col: 1 }, "invalid UTF-8 in go.mod".to_string())
    })?;
    let mut p = Parser {
        lx: Lexer {
            src: text,
            i: 0,
            pos: Pos { line: 1, col: 1 },
        },
        ahead: None,
    };
    let stmts = p.file().map_err(|(pos, m)| one(pos, m))?;
    let mut f = ModFile::default();
    let mut cx = Ctx {
        file,
        errors: Vec::new(),
    };
    for s in &stmts {
        match s {
            Stmt::Line(l) => {
                let verb = l.tokens[0].clone();
                add(&mut f, &mut cx, None, l, &verb, &l.tokens[1..], strict);
            }
            Stmt::Block {
                pos,
                tokens,
                before,
                lines,
            } => {
                let known = tokens.len() == 1
                    && matches!(
                        tokens[0].as_str(),
                        "module"
                            | "godebug"
                            | "require"
                            | "exclude"
                            | "replace"
                            | "retract"
                            | "tool"
                            | "ignore"
                    );
                if !known {
                    if strict {
                        cx.err(
                            *pos,
                            String::new(),
                            format!("unknown block type: {}", tokens.join(" ")),
                        );
                    }
                    continue;
                }
                for l in lines {
                    add(
                        &mut f,
                        &mut cx,
                        Some(before),
                        l,
                        &tokens[0],
                        &l.tokens,
                        strict,
                    );
                }
            }
        }
    }
    if cx.errors.is_empty() {
        Ok(f)
    } else {
        Err(ModFileErrors { errors: cx.errors })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"// Deprecated: use example.com/new instead.
module example.com/m

go 1.23.0

toolchain go1.23.4

godebug default=go1.21

require (
	example.com/a v1.2.3
	example.com/b/v2 v2.0.0 // indirect
	"example.com/quoted" v1.0
)

exclude example.com/a v1.2.2

replace (
	example.com/a v1.2.3 => example.com/fork v1.2.4
	example.com/b/v2 => ../b
)

// Published by mistake.
retract v1.0.1

retract (
	[v1.1.0, v1.1.9] // broken builds
	v1.2.0
)

tool example.com/a/cmd/x

ignore ./node_modules
"#;

    #[test]
    fn parses_every_directive() {
        let f = parse("go.mod", FULL.as_bytes()).unwrap();
        let m = f.module.unwrap();
        assert_eq!(m.path, "example.com/m");
        assert_eq!(
            m.deprecated.as_deref(),
            Some("use example.com/new instead.")
        );
        assert_eq!(f.go.unwrap().version, "1.23.0");
        assert_eq!(f.toolchain.unwrap().name, "go1.23.4");
        assert_eq!(f.godebug[0].key, "default");
        assert_eq!(f.require.len(), 3);
        assert!(!f.require[0].indirect && f.require[1].indirect);
        assert_eq!(f.require[2].path, "example.com/quoted");
        assert_eq!(f.require[2].version, "v1.0.0");
        assert_eq!(f.exclude[0].version, "v1.2.2");
        assert_eq!(f.replace[1].new_path, "../b");
        assert_eq!(f.replace[1].old_version, None);
        assert_eq!(f.retract.len(), 3);
        assert_eq!(f.retract[0].rationale, "Published by mistake.");
        assert_eq!(
            (f.retract[1].low.as_str(), f.retract[1].high.as_str()),
            ("v1.1.0", "v1.1.9")
        );
        assert_eq!(f.retract[1].rationale, "broken builds");
        assert_eq!(f.tool[0].path, "example.com/a/cmd/x");
        assert_eq!(f.ignore[0].path, "./node_modules");
    }

    #[test]
    fn errors_have_go_wording_and_lines() {
        let e = parse("go.mod", b"module m\n\nfoo bar\n").unwrap_err();
        assert_eq!(e.to_string(), "go.mod:3: unknown directive: foo");
        let e = parse("go.mod", b"module m\nrequire example.com/x banana\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "go.mod:2: require example.com/x: version \"banana\" invalid: must be of the form v1.2.3"
        );
        let e = parse("go.mod", b"module m\ngo 1.2.3.4\ngo 1.21\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("go.mod:2: invalid go version '1.2.3.4'"),
            "{e}"
        );
        let e = parse("go.mod", b"module m\nrequire (\n\tx v1.0.0\n").unwrap_err();
        assert!(
            e.to_string()
                .contains("unterminated block started at go.mod:2:1"),
            "{e}"
        );
        let e = parse("go.mod", b"module \"m\n").unwrap_err();
        assert!(
            e.to_string().contains("unexpected newline in string"),
            "{e}"
        );
        let e = parse("go.mod", b"module m /* x */\n").unwrap_err();
        assert!(e.to_string().contains("// comments"), "{e}");
        let e = parse("go.mod", b"module m\nrequire example.com/x/v2 v1.0.0\n").unwrap_err();
        assert!(e.to_string().contains("require example.com/x/v2: "), "{e}");
    }

    #[test]
    fn lax_ignores_unknown_and_main_module_directives() {
        let src = b"module example.com/dep\ngo 1.21beta1-foo\nfrobnicate x\nreplace a => ../a\nunknown (\n\tx\n)\nrequire example.com/x v1.0.0\n";
        let f = parse_lax("go.mod", src).unwrap();
        assert_eq!(f.go.unwrap().version, "1.21");
        assert!(f.replace.is_empty());
        assert_eq!(f.require.len(), 1);
        assert!(parse("go.mod", src).is_err());
    }

    #[test]
    fn empty_file_is_fine() {
        assert_eq!(parse("go.mod", b"").unwrap(), ModFile::default());
    }
}
