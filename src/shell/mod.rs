//! A small parser for the shell commands an agent asks to run: it finds every simple command a
//! command line would run — through pipes, `&&`, `||`, `;`, subshells, `$(...)`, backticks,
//! process substitution and heredocs — so the policy can judge each one. It does not expand
//! anything: a word that depends on a variable or a substitution is marked dynamic.

mod expand;

pub use expand::{braces, expand};

/// One word after quote removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// The word's value depends on an expansion (`$VAR`, `$(..)`, backticks, globs aside).
    pub dynamic: bool,
    /// The word as written, quotes and all: what [`expand`] reads.
    pub raw: String,
}

impl Word {
    /// A word written without quotes or expansions.
    pub fn plain(text: &str) -> Word {
        Word { text: text.to_owned(), dynamic: false, raw: text.to_owned() }
    }
}

/// One simple command: the words it runs (variable assignments before it stripped) and the
/// files its redirections write and read. A line of redirections alone (`> out`) is a command
/// with no words.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimpleCommand {
    pub words: Vec<Word>,
    /// Targets of `>`, `>>`, `>|`, `&>`.
    pub writes: Vec<Word>,
    /// Sources of `<`.
    pub reads: Vec<Word>,
}

impl SimpleCommand {
    pub fn name(&self) -> Option<&Word> {
        self.words.first()
    }
}

/// Everything a command line would run, in the order it would run (a substitution before the
/// command that uses it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub commands: Vec<SimpleCommand>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("unterminated {0}")]
    Unterminated(&'static str),
    #[error("unmatched `)`")]
    UnmatchedParen,
}

/// What ended a segment of words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    /// `;`, `&`, `|`, `&&`, `||`, newline, or the end.
    List,
    /// The `in` of `case WORD in`: a pattern follows.
    CaseIn,
    /// `;;`: the next pattern of a `case`, or its `esac`, follows.
    CaseEnd,
    Open,
    Close,
}

/// The files one segment's redirections name.
#[derive(Debug, Default)]
struct Redirects {
    writes: Vec<Word>,
    reads: Vec<Word>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Redirect {
    /// `<<<`: the next word is data.
    HereString,
    None,
    Output,
    Input,
    HereDoc {
        strip_tabs: bool,
    },
    /// `>&2`, `2>&1`: the target is a descriptor.
    Dup,
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    out: &'a mut Parsed,
    /// Heredocs whose bodies start after the next newline: (delimiter, strip tabs, expand body).
    pending_heredocs: Vec<(String, bool, bool)>,
    case_depth: usize,
    /// Whether the word just read had any quoting (a quoted heredoc delimiter turns expansion off).
    last_word_was_quoted: bool,
}

/// Parses `src` into the simple commands it would run.
pub fn parse(src: &str) -> Result<Parsed, ParseError> {
    let mut out = Parsed::default();
    let mut p = Parser {
        chars: src.chars().collect(),
        pos: 0,
        out: &mut out,
        pending_heredocs: Vec::new(),
        case_depth: 0,
        last_word_was_quoted: false,
    };
    p.list(false)?;
    Ok(out)
}

impl Parser<'_> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.chars.get(self.pos + n).copied()
    }

    /// Parses commands until the end, or until the `)` that closes a `$(` or `(` when `nested`.
    fn list(&mut self, nested: bool) -> Result<(), ParseError> {
        let mut depth = 0usize;
        loop {
            let (words, sep, redirects) = self.segment()?;
            self.command(words, sep, redirects);
            match sep {
                Sep::Open => depth += 1,
                Sep::Close if depth > 0 => depth -= 1,
                Sep::Close if nested => return Ok(()),
                Sep::Close => return Err(ParseError::UnmatchedParen),
                Sep::CaseIn => self.skip_case_pattern(),
                Sep::CaseEnd if self.case_depth > 0 => self.skip_case_pattern(),
                Sep::List | Sep::CaseEnd => {
                    if self.peek().is_none() {
                        return if nested { Err(ParseError::Unterminated("`$(`")) } else { Ok(()) };
                    }
                }
            }
        }
    }

    /// Skips a `case` pattern (`a|b)`), which is not a command; stops before `esac`.
    fn skip_case_pattern(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
        let rest: String = self.chars[self.pos..self.chars.len().min(self.pos + 5)].iter().collect();
        if rest.starts_with("esac") && rest[4..].chars().next().is_none_or(|c| !c.is_alphanumeric()) {
            return;
        }
        while let Some(c) = self.peek() {
            self.pos += 1;
            if c == ')' {
                break;
            }
        }
    }

    /// Turns a segment's words into a simple command, skipping keywords and assignments.
    fn command(&mut self, words: Vec<Word>, sep: Sep, redirects: Redirects) {
        let Redirects { writes, reads } = redirects;
        let lone = |writes: Vec<Word>, reads: Vec<Word>| SimpleCommand { words: Vec::new(), writes, reads };
        let mut words = words.into_iter().peekable();
        while let Some(w) = words.peek() {
            let t = w.text.as_str();
            // `VAR=$(cmd) prog`: an assignment, even with a computed value, is not the command.
            if is_assignment(t) {
                words.next();
                continue;
            }
            if w.dynamic {
                break;
            }
            match t {
                "if" | "then" | "else" | "elif" | "do" | "while" | "until" | "!" | "{" | "time" => {
                    words.next();
                }
                "fi" | "done" | "}" | "esac" => {
                    if t == "esac" {
                        self.case_depth = self.case_depth.saturating_sub(1);
                    }
                    words.next();
                }
                "for" | "select" | "function" => break,
                "case" => {
                    self.case_depth += 1;
                    if !writes.is_empty() || !reads.is_empty() {
                        self.out.commands.push(lone(writes, reads));
                    }
                    return;
                }
                _ => break,
            }
        }
        let mut words: Vec<Word> = words.collect();
        if words.first().is_some_and(|w| !w.dynamic && matches!(w.text.as_str(), "for" | "select" | "function")) {
            // The loop's words and the function's name are not run.
            words.clear();
        }
        // `name() { ...; }` defines a function: the name is not run here.
        if sep == Sep::Open && words.len() == 1 && self.peek() == Some(')') {
            words.clear();
        }
        if !words.is_empty() || !writes.is_empty() || !reads.is_empty() {
            self.out.commands.push(SimpleCommand { words, writes, reads });
        }
    }

    /// Reads words up to a separator. Returns the words, the separator and redirect targets.
    fn segment(&mut self) -> Result<(Vec<Word>, Sep, Redirects), ParseError> {
        let mut words = Vec::new();
        let mut redirects = Redirects::default();
        let mut redirect = Redirect::None;
        loop {
            let Some(c) = self.peek() else {
                return Ok((words, Sep::List, redirects));
            };
            match c {
                ' ' | '\t' | '\r' => self.pos += 1,
                '\\' if self.peek_at(1) == Some('\n') => self.pos += 2,
                '\n' => {
                    self.pos += 1;
                    self.read_heredoc_bodies()?;
                    return Ok((words, Sep::List, redirects));
                }
                '#' => {
                    while self.peek().is_some_and(|c| c != '\n') {
                        self.pos += 1;
                    }
                }
                ';' => {
                    self.pos += 1;
                    if self.peek() == Some(';') {
                        self.pos += 1;
                        return Ok((words, Sep::CaseEnd, redirects));
                    }
                    return Ok((words, Sep::List, redirects));
                }
                '|' => {
                    self.pos += 1;
                    if matches!(self.peek(), Some('|' | '&')) {
                        self.pos += 1;
                    }
                    return Ok((words, Sep::List, redirects));
                }
                '&' if self.peek_at(1) == Some('>') => {
                    self.pos += 2;
                    if self.peek() == Some('>') {
                        self.pos += 1;
                    }
                    redirect = Redirect::Output;
                }
                '&' => {
                    self.pos += 1;
                    if self.peek() == Some('&') {
                        self.pos += 1;
                    }
                    return Ok((words, Sep::List, redirects));
                }
                '(' => {
                    self.pos += 1;
                    return Ok((words, Sep::Open, redirects));
                }
                ')' => {
                    self.pos += 1;
                    return Ok((words, Sep::Close, redirects));
                }
                '<' | '>' if matches!(self.peek_at(1), Some('(')) => {
                    // Process substitution: its commands run too.
                    self.pos += 2;
                    self.list(true)?;
                    words.push(Word { text: String::new(), dynamic: true, raw: "<(...)".into() });
                }
                '<' | '>' => redirect = self.redirect_operator(),
                _ => {
                    let word = self.word()?;
                    // `2>file`: a number right before a redirect is a descriptor, not a word.
                    if matches!(self.peek(), Some('<' | '>'))
                        && !word.dynamic
                        && !word.text.is_empty()
                        && word.text.chars().all(|c| c.is_ascii_digit())
                        && self.peek_at(1) != Some('(')
                    {
                        redirect = self.redirect_operator();
                        continue;
                    }
                    match std::mem::replace(&mut redirect, Redirect::None) {
                        Redirect::None => {
                            let case_in = words.len() == 2 && words[0].text == "case" && word.text == "in";
                            words.push(word);
                            if case_in {
                                return Ok((words, Sep::CaseIn, redirects));
                            }
                        }
                        Redirect::Output => redirects.writes.push(word),
                        Redirect::Input => redirects.reads.push(word),
                        Redirect::Dup | Redirect::HereString => {}
                        Redirect::HereDoc { strip_tabs } => {
                            let quoted = self.last_word_was_quoted;
                            self.pending_heredocs.push((word.text, strip_tabs, !quoted));
                        }
                    }
                }
            }
        }
    }

    fn redirect_operator(&mut self) -> Redirect {
        let c = self.chars[self.pos];
        self.pos += 1;
        if c == '<' {
            if self.peek() == Some('<') {
                self.pos += 1;
                if self.peek() == Some('<') {
                    self.pos += 1;
                    return Redirect::HereString;
                }
                let strip_tabs = self.peek() == Some('-');
                if strip_tabs {
                    self.pos += 1;
                }
                return Redirect::HereDoc { strip_tabs };
            }
            if self.peek() == Some('&') {
                self.pos += 1;
                return Redirect::Dup;
            }
            return Redirect::Input;
        }
        match self.peek() {
            Some('>') | Some('|') => {
                self.pos += 1;
                Redirect::Output
            }
            Some('&') => {
                self.pos += 1;
                Redirect::Dup
            }
            _ => Redirect::Output,
        }
    }

    fn read_heredoc_bodies(&mut self) -> Result<(), ParseError> {
        for (delim, strip_tabs, expand) in std::mem::take(&mut self.pending_heredocs) {
            let mut body = String::new();
            loop {
                if self.peek().is_none() {
                    return Err(ParseError::Unterminated("heredoc"));
                }
                let start = self.pos;
                while self.peek().is_some_and(|c| c != '\n') {
                    self.pos += 1;
                }
                let line: String = self.chars[start..self.pos].iter().collect();
                if self.peek() == Some('\n') {
                    self.pos += 1;
                }
                let cmp = if strip_tabs { line.trim_start_matches('\t') } else { line.as_str() };
                if cmp == delim {
                    break;
                }
                body.push_str(&line);
                body.push('\n');
            }
            if expand {
                // An unquoted heredoc expands `$(...)` and backticks: those commands run too.
                let mut inner = Parser {
                    chars: body.chars().collect(),
                    pos: 0,
                    out: &mut *self.out,
                    pending_heredocs: Vec::new(),
                    case_depth: 0,
                    last_word_was_quoted: false,
                };
                while inner.peek().is_some() {
                    match inner.peek() {
                        Some('\\') => inner.pos += 2,
                        Some('$') | Some('`') => {
                            let mut sink = String::new();
                            inner.dollar_or_backtick(&mut sink)?;
                        }
                        _ => inner.pos += 1,
                    }
                }
            }
        }
        Ok(())
    }
}

impl Parser<'_> {
    /// Reads one word, removing quotes. Substitutions inside it are parsed as commands.
    fn word(&mut self) -> Result<Word, ParseError> {
        let start = self.pos;
        let word = self.word_text()?;
        let raw = self.chars[start..self.pos].iter().collect();
        Ok(Word { raw, ..word })
    }

    fn word_text(&mut self) -> Result<Word, ParseError> {
        let mut text = String::new();
        let mut dynamic = false;
        self.last_word_was_quoted = false;
        while let Some(c) = self.peek() {
            match c {
                ' ' | '\t' | '\r' | '\n' | ';' | '&' | '|' | '(' | ')' | '<' | '>' => break,
                '\\' => {
                    self.pos += 1;
                    self.last_word_was_quoted = true;
                    if let Some(n) = self.peek() {
                        if n != '\n' {
                            text.push(n);
                        }
                        self.pos += 1;
                    }
                }
                '\'' => {
                    self.pos += 1;
                    self.last_word_was_quoted = true;
                    loop {
                        match self.peek() {
                            None => return Err(ParseError::Unterminated("single quote")),
                            Some('\'') => {
                                self.pos += 1;
                                break;
                            }
                            Some(ch) => {
                                text.push(ch);
                                self.pos += 1;
                            }
                        }
                    }
                }
                '"' => {
                    self.pos += 1;
                    self.last_word_was_quoted = true;
                    loop {
                        match self.peek() {
                            None => return Err(ParseError::Unterminated("double quote")),
                            Some('"') => {
                                self.pos += 1;
                                break;
                            }
                            Some('\\') => {
                                self.pos += 1;
                                match self.peek() {
                                    Some(n @ ('$' | '`' | '"' | '\\')) => {
                                        text.push(n);
                                        self.pos += 1;
                                    }
                                    Some('\n') => self.pos += 1,
                                    _ => text.push('\\'),
                                }
                            }
                            Some('$') | Some('`') => dynamic |= self.dollar_or_backtick(&mut text)?,
                            Some(ch) => {
                                text.push(ch);
                                self.pos += 1;
                            }
                        }
                    }
                }
                '$' | '`' => dynamic |= self.dollar_or_backtick(&mut text)?,
                _ => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        Ok(Word { text, dynamic, raw: String::new() })
    }

    /// At a `$` or a backtick: parses a substitution's commands, skips a parameter or arithmetic
    /// expansion. Says whether the word became dynamic.
    fn dollar_or_backtick(&mut self, text: &mut String) -> Result<bool, ParseError> {
        if self.peek() == Some('`') {
            self.pos += 1;
            let start = self.pos;
            while self.peek().is_some_and(|c| c != '`') {
                if self.peek() == Some('\\') {
                    self.pos += 1;
                }
                self.pos += 1;
            }
            if self.peek().is_none() {
                return Err(ParseError::Unterminated("backtick"));
            }
            let inner: String = self.chars[start..self.pos].iter().collect();
            self.pos += 1;
            self.out.commands.extend(parse(&inner)?.commands);
            return Ok(true);
        }
        self.pos += 1; // the `$`
        match self.peek() {
            Some('(') if self.peek_at(1) == Some('(') => {
                // Arithmetic: no commands (a `$(` inside would still be found by nesting).
                self.pos += 2;
                let mut depth = 2usize;
                while depth > 0 {
                    match self.peek() {
                        None => return Err(ParseError::Unterminated("`$((`")),
                        Some('(') => depth += 1,
                        Some(')') => depth -= 1,
                        _ => {}
                    }
                    self.pos += 1;
                }
                Ok(true)
            }
            Some('(') => {
                self.pos += 1;
                let saved_case = std::mem::take(&mut self.case_depth);
                self.list(true)?;
                self.case_depth = saved_case;
                Ok(true)
            }
            Some('{') => {
                while self.peek().is_some_and(|c| c != '}') {
                    self.pos += 1;
                }
                if self.peek().is_none() {
                    return Err(ParseError::Unterminated("`${`"));
                }
                self.pos += 1;
                Ok(true)
            }
            Some(c) if c.is_ascii_alphanumeric() || matches!(c, '_' | '@' | '*' | '#' | '?' | '$' | '!' | '-') => {
                if c.is_ascii_alphabetic() || c == '_' {
                    while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                        self.pos += 1;
                    }
                } else {
                    self.pos += 1;
                }
                Ok(true)
            }
            _ => {
                text.push('$');
                Ok(false)
            }
        }
    }
}

fn is_assignment(word: &str) -> bool {
    let Some((name, _)) = word.split_once('=') else {
        return false;
    };
    let name = name.strip_suffix('+').unwrap_or(name);
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}
