//! The expressions of a circuit breaker's `metrics.matches` and `metrics.rules`: the part of
//! JMESPath (the language inference-perf evaluates them in) that selects and compares a
//! request record's fields — paths (`error.error_type`, `"quoted name"`), raw string
//! literals (`'TimeoutError'`), JSON literals (`` `503` ``, `` `true` ``), the comparators
//! `== != < <= > >=`, `!`, `&&`, `||`, parentheses, and the functions `contains`,
//! `starts_with`, `ends_with` and `length`. Anything else (filters, projections, pipes, other
//! functions) is refused when the profile is loaded, naming what is not supported.
//!
//! Evaluation follows JMESPath (as inference-perf's `jmespath` package has it): a missing field
//! is `null`; `<`-style comparisons order two numbers or two strings, a number and a string is
//! an error, anything else gives `null`; `&&`/`||` return an operand by JMESPath truthiness (false,
//! null, empty string, array and object are false). A function given the wrong types is an
//! error, which inference-perf counts as "no match"; so does [`Expr::holds`]. The final result
//! is read with Python's truthiness, as inference-perf's `bool(expr.search(record))` does (a
//! number 0 is false there).

use serde_json::Value;

/// The characters of an expression with their byte offsets.
type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

/// The longest expression accepted, in bytes.
pub const MAX_EXPR_LEN: usize = 1000;

/// How deeply parentheses, `!` and function calls may nest.
const MAX_DEPTH: usize = 32;

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// Fields from the record's root (`a.b.c`).
    Path(Vec<String>),
    /// A string or JSON literal.
    Literal(Value),
    /// `!e`.
    Not(Box<Expr>),
    /// `a && b`.
    And(Box<Expr>, Box<Expr>),
    /// `a || b`.
    Or(Box<Expr>, Box<Expr>),
    /// `a <op> b`.
    Cmp(Cmp, Box<Expr>, Box<Expr>),
    /// `f(args)`.
    Call(Func, Vec<Expr>),
}

/// A comparator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
}

/// A function of the supported subset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    /// `contains(subject, search)`.
    Contains,
    /// `starts_with(subject, prefix)`.
    StartsWith,
    /// `ends_with(subject, suffix)`.
    EndsWith,
    /// `length(subject)`.
    Length,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Raw(String),
    Json(Value),
    Dot,
    Comma,
    LParen,
    RParen,
    Not,
    And,
    Or,
    Cmp(Cmp),
}

fn tokenize(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut it = text.char_indices().peekable();
    while let Some((i, c)) = it.next() {
        let tok = match c {
            ' ' | '\t' | '\n' | '\r' => continue,
            '.' => Tok::Dot,
            ',' => Tok::Comma,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '&' if next_is(&mut it, '&') => Tok::And,
            '|' if next_is(&mut it, '|') => Tok::Or,
            '=' if next_is(&mut it, '=') => Tok::Cmp(Cmp::Eq),
            '!' if next_is(&mut it, '=') => Tok::Cmp(Cmp::Ne),
            '!' => Tok::Not,
            '<' if next_is(&mut it, '=') => Tok::Cmp(Cmp::Le),
            '<' => Tok::Cmp(Cmp::Lt),
            '>' if next_is(&mut it, '=') => Tok::Cmp(Cmp::Ge),
            '>' => Tok::Cmp(Cmp::Gt),
            '\'' | '"' | '`' => {
                let body = quoted(&mut it, c).ok_or_else(|| format!("unclosed {c} at {i}"))?;
                match c {
                    '\'' => Tok::Raw(body),
                    '"' => Tok::Ident(serde_json::from_str(&format!("\"{body}\"")).map_err(
                        |e| format!("\"{body}\" at {i} is not a quoted name: {e}"),
                    )?),
                    _ => Tok::Json(serde_json::from_str(&body).map_err(|e| {
                        format!("`{body}` at {i} is not a JSON literal: {e}")
                    })?),
                }
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let mut name = c.to_string();
                while let Some((_, n)) = it.next_if(|&(_, n)| n.is_ascii_alphanumeric() || n == '_') {
                    name.push(n);
                }
                Tok::Ident(name)
            }
            c if c.is_ascii_digit() || c == '-' => {
                return Err(format!(
                    "a number at {i}: JMESPath writes number literals in backticks, e.g. `503`"
                ))
            }
            '|' => return Err(format!("pipes (`|` at {i}) are not supported")),
            '[' | ']' | '*' | '@' | '{' | '}' | '&' | '?' | ':' | '$' => {
                return Err(format!(
                    "{c:?} at {i}: filters, projections, multi-selects and other JMESPath forms are not supported (paths, literals, comparisons, !, &&, ||, contains, starts_with, ends_with, length are)"
                ))
            }
            other => return Err(format!("unexpected {other:?} at {i}")),
        };
        out.push(tok);
    }
    Ok(out)
}

/// Takes the next character when it is `want`.
fn next_is(it: &mut Chars<'_>, want: char) -> bool {
    it.next_if(|&(_, n)| n == want).is_some()
}

/// The text up to the closing `quote` (a backslash escapes it), with `\\` kept for JSON.
fn quoted(it: &mut Chars<'_>, quote: char) -> Option<String> {
    let mut body = String::new();
    while let Some((_, c)) = it.next() {
        if c == quote {
            return Some(body);
        }
        if c == '\\' {
            let (_, n) = it.next()?;
            // A raw string or a literal keeps other escapes as written.
            if n != quote || quote == '"' {
                body.push('\\');
            }
            body.push(n);
            continue;
        }
        body.push(c);
    }
    None
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn bump(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("nested deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            left = Expr::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut left = self.cmp()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            left = Expr::And(Box::new(left), Box::new(self.cmp()?));
        }
        Ok(left)
    }

    fn cmp(&mut self) -> Result<Expr, String> {
        let mut left = self.unary()?;
        while let Some(&Tok::Cmp(op)) = self.peek() {
            self.pos += 1;
            left = Expr::Cmp(op, Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.peek() == Some(&Tok::Not) {
            self.pos += 1;
            self.deeper()?;
            let e = Expr::Not(Box::new(self.unary()?));
            self.depth -= 1;
            return Ok(e);
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.bump() {
            Some(Tok::LParen) => {
                self.deeper()?;
                let e = self.or()?;
                self.depth -= 1;
                match self.bump() {
                    Some(Tok::RParen) => Ok(e),
                    _ => Err("missing )".into()),
                }
            }
            Some(Tok::Raw(s)) => Ok(Expr::Literal(Value::String(s))),
            Some(Tok::Json(v)) => Ok(Expr::Literal(v)),
            Some(Tok::Ident(name)) if self.peek() == Some(&Tok::LParen) => self.call(&name),
            Some(Tok::Ident(name)) => {
                let mut path = vec![name];
                while self.peek() == Some(&Tok::Dot) {
                    self.pos += 1;
                    match self.bump() {
                        Some(Tok::Ident(n)) => path.push(n),
                        _ => return Err("a field name must follow '.'".into()),
                    }
                }
                Ok(Expr::Path(path))
            }
            Some(t) => Err(format!("unexpected {t:?}")),
            None => Err("the expression ends too early".into()),
        }
    }

    fn call(&mut self, name: &str) -> Result<Expr, String> {
        let (func, arity) = match name {
            "contains" => (Func::Contains, 2),
            "starts_with" => (Func::StartsWith, 2),
            "ends_with" => (Func::EndsWith, 2),
            "length" => (Func::Length, 1),
            _ => {
                return Err(format!(
                "function {name}() is not supported (contains, starts_with, ends_with, length are)"
            ))
            }
        };
        self.pos += 1; // (
        self.deeper()?;
        let mut args = Vec::new();
        if self.peek() != Some(&Tok::RParen) {
            loop {
                args.push(self.or()?);
                if self.peek() != Some(&Tok::Comma) {
                    break;
                }
                self.pos += 1;
            }
        }
        self.depth -= 1;
        if self.bump() != Some(Tok::RParen) {
            return Err(format!("missing ) after the arguments of {name}()"));
        }
        if args.len() != arity {
            return Err(format!(
                "{name}() takes {arity} arguments, got {}",
                args.len()
            ));
        }
        Ok(Expr::Call(func, args))
    }
}

/// JMESPath's truthiness.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Number(_) => true,
    }
}

/// Equality with numbers compared by value (`1` equals `1.0`).
fn equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

impl Expr {
    /// Parses `text`; the error says what is wrong or not supported, and where.
    pub fn parse(text: &str) -> Result<Expr, String> {
        if text.len() > MAX_EXPR_LEN {
            return Err(format!("{} bytes, at most {MAX_EXPR_LEN}", text.len()));
        }
        let mut p = Parser {
            toks: tokenize(text)?,
            pos: 0,
            depth: 0,
        };
        let e = p.or()?;
        match p.peek() {
            None => Ok(e),
            Some(t) => Err(format!("unexpected {t:?} after a complete expression")),
        }
    }

    /// The expression's value over `record`; `None` when a function was given the wrong types.
    pub fn eval(&self, record: &Value) -> Option<Value> {
        Some(match self {
            Expr::Path(path) => {
                let mut v = record;
                for name in path {
                    match v.get(name) {
                        Some(next) => v = next,
                        None => return Some(Value::Null),
                    }
                }
                v.clone()
            }
            Expr::Literal(v) => v.clone(),
            Expr::Not(e) => Value::Bool(!truthy(&e.eval(record)?)),
            Expr::And(a, b) => {
                let l = a.eval(record)?;
                if truthy(&l) {
                    b.eval(record)?
                } else {
                    l
                }
            }
            Expr::Or(a, b) => {
                let l = a.eval(record)?;
                if truthy(&l) {
                    l
                } else {
                    b.eval(record)?
                }
            }
            Expr::Cmp(op, a, b) => compare(*op, &a.eval(record)?, &b.eval(record)?)?,
            Expr::Call(f, args) => {
                let vals = args
                    .iter()
                    .map(|a| a.eval(record))
                    .collect::<Option<Vec<Value>>>()?;
                call(*f, &vals)?
            }
        })
    }

    /// Whether the expression holds for `record`, read as inference-perf reads it: Python's
    /// truthiness of the result (0 is false), and an evaluation error is false.
    pub fn holds(&self, record: &Value) -> bool {
        match self.eval(record) {
            Some(Value::Number(n)) => n.as_f64() != Some(0.0),
            Some(v) => truthy(&v),
            None => false,
        }
    }
}

/// `==`/`!=` on any values; `<`-style on two numbers or two strings (jmespath's Python
/// implementation orders strings too), a type error (`None`) on a number and a string, else
/// `null`.
fn compare(op: Cmp, a: &Value, b: &Value) -> Option<Value> {
    let ord = match (a, b) {
        _ if matches!(op, Cmp::Eq) => return Some(Value::Bool(equal(a, b))),
        _ if matches!(op, Cmp::Ne) => return Some(Value::Bool(!equal(a, b))),
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?)?,
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Number(_) | Value::String(_), Value::Number(_) | Value::String(_)) => return None,
        _ => return Some(Value::Null),
    };
    use std::cmp::Ordering::{Greater, Less};
    Some(Value::Bool(match op {
        Cmp::Lt => ord == Less,
        Cmp::Le => ord != Greater,
        Cmp::Gt => ord == Greater,
        _ => ord != Less,
    }))
}

fn call(f: Func, args: &[Value]) -> Option<Value> {
    let s = |i: usize| args.get(i).and_then(Value::as_str);
    Some(match f {
        Func::Contains => match &args[0] {
            Value::String(hay) => Value::Bool(hay.contains(s(1)?)),
            Value::Array(items) => Value::Bool(items.iter().any(|x| equal(x, &args[1]))),
            _ => return None,
        },
        Func::StartsWith => Value::Bool(s(0)?.starts_with(s(1)?)),
        Func::EndsWith => Value::Bool(s(0)?.ends_with(s(1)?)),
        Func::Length => Value::from(match &args[0] {
            Value::String(x) => x.chars().count(),
            Value::Array(x) => x.len(),
            Value::Object(x) => x.len(),
            _ => return None,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holds(expr: &str, record: &Value) -> bool {
        Expr::parse(expr)
            .unwrap_or_else(|e| panic!("{expr}: {e}"))
            .holds(record)
    }

    #[test]
    fn the_forms_inference_perf_configs_use_evaluate_as_jmespath_does() {
        let timeout = json!({"error": {"error_type": "TimeoutError", "error_msg": "Request timed out"},
                             "info": {"response_metrics": {"output_tokens": 0}}});
        let ok = json!({"info": {"response_metrics": {"output_tokens": 12}}});
        assert!(holds("error.error_type == 'TimeoutError'", &timeout));
        assert!(!holds("error.error_type == 'TimeoutError'", &ok));
        assert!(holds("error", &timeout));
        assert!(!holds("error", &ok));
        assert!(holds("!error", &ok));
        assert!(holds("info.response_metrics.output_tokens > `10`", &ok));
        assert!(!holds(
            "info.response_metrics.output_tokens > `10`",
            &timeout
        ));
        // 0 is truthy in JMESPath but Python's bool() of the result is False.
        assert!(!holds("info.response_metrics.output_tokens", &timeout));
        assert!(holds(
            "error && (contains(error.error_msg, 'timed') || starts_with(error.error_type, 'HTTP'))",
            &timeout
        ));
        assert!(holds("\"error\".error_type != 'HTTP Error 503'", &timeout));
        assert!(holds("length(error.error_type) == `12`", &timeout));
        // A string against a number and a function on the wrong type are errors: no match.
        assert!(!holds("error.error_type > `1`", &timeout));
        assert!(!holds("starts_with(info, 'x')", &timeout));
        // Strings are ordered; other values give null (what jmespath.search returns).
        assert!(holds("'a' < 'b'", &ok));
        assert!(holds("`true` < `false` == `null`", &ok));
        assert!(!holds("`1` == `1.0` && 'a' < 'b' == `null`", &ok));
        assert!(holds("!error == `false`", &timeout));
    }

    #[test]
    fn what_is_outside_the_subset_is_refused_with_what_is_supported() {
        for (expr, says) in [
            ("error.error_type == 503", "backticks"),
            ("items[?x == 'y']", "not supported"),
            ("a | b", "pipes"),
            ("abs(a)", "not supported"),
            ("contains(a)", "takes 2"),
            ("(a == 'b'", "missing )"),
            ("a ==", "ends too early"),
            ("a b", "after a complete expression"),
            ("'open", "unclosed"),
        ] {
            let e = Expr::parse(expr).expect_err(expr);
            assert!(e.contains(says), "{expr}: {e}");
        }
        assert!(Expr::parse(&"!".repeat(40)).unwrap_err().contains("nested"));
        assert!(Expr::parse(&"a".repeat(1001))
            .unwrap_err()
            .contains("at most"));
    }
}
