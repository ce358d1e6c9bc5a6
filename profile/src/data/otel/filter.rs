//! `otel_trace_replay.filter`: inference-perf selects traces with a Python lambda it runs with
//! `eval()` (`"lambda x: x.get('max_tokens', 0) < 28000"`), over each trace's record as its
//! loader normalizes it ([`normalized`]). fleetbench runs no code from a profile: it parses the
//! expressions such filters are written in and evaluates them over the record as JSON, with
//! Python's meaning:
//! - `lambda NAME: EXPR`; `or`, `and`, `not` (returning operands, as Python does); comparisons
//!   `== != < <= > >= in`, `not in`, `is`, `is not`, chained (`0 < x['a'] < 9`); `+ -` and a
//!   unary minus on numbers (`+` on strings too);
//! - literals: numbers, strings in single or double quotes, `True`, `False`, `None`, lists;
//! - `NAME[key]`, `v[index]` (negative from the end), `d.get(key[, default])`, `len(v)`,
//!   `s.startswith(p)`, `s.endswith(p)`, `s.lower()`, `s.upper()`.
//!
//! inference-perf evaluates with no builtins, so `len()` fails there (NameError) and is read
//! here. Anything else is refused when the profile is validated, naming the token; a missing key or
//! a comparison of different types fails the run (Python's `KeyError` or `TypeError`) naming the
//! trace.

use serde_json::{json, Value};
use std::cmp::Ordering;

/// The longest filter read (characters).
const MAX_LEN: usize = 4096;
/// The deepest nesting of parentheses and operators.
const MAX_DEPTH: usize = 64;

/// A parsed filter.
#[derive(Debug, Clone)]
pub(crate) struct RowFilter {
    param: String,
    body: Expr,
}

#[derive(Debug, Clone)]
enum Expr {
    Lit(Value),
    /// A name: only the lambda's parameter is one (checked after parsing).
    Name(String),
    List(Vec<Expr>),
    Or(Box<Expr>, Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    /// `first op1 e1 op2 e2 ...`, Python's chained comparison.
    Compare(Box<Expr>, Vec<(Op, Expr)>),
    Arith(Box<Expr>, bool, Box<Expr>),
    Neg(Box<Expr>),
    Index(Box<Expr>, Box<Expr>),
    Call(Box<Expr>, String, Vec<Expr>),
    Len(Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    NotIn,
    Is,
    IsNot,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Name(String),
    Str(String),
    Num(f64),
    Punct(&'static str),
}

impl RowFilter {
    /// Parses `text`; the error names what could not be read.
    pub(crate) fn parse(text: &str) -> Result<RowFilter, String> {
        if text.chars().count() > MAX_LEN {
            return Err(format!("longer than {MAX_LEN} characters"));
        }
        let toks = lex(text)?;
        let mut p = Parser {
            toks,
            at: 0,
            depth: 0,
        };
        p.keyword("lambda")?;
        let param = match p.next() {
            Some(Tok::Name(n)) => n,
            other => {
                return Err(format!(
                    "expected `lambda NAME:`, found {}",
                    show(other.as_ref())
                ))
            }
        };
        p.punct(":")?;
        let body = p.expr()?;
        if p.at < p.toks.len() {
            return Err(format!("unexpected {}", show(p.toks.get(p.at))));
        }
        let f = RowFilter { param, body };
        f.check_names(&f.body)?;
        Ok(f)
    }

    /// Whether `row` is kept: the truth of the filter's value, as Python's `filter` takes it.
    pub(crate) fn keep(&self, row: &Value) -> Result<bool, String> {
        eval(&self.body, row).map(|v| truthy(&v))
    }

    /// Every name is the parameter: a filter reads the record and nothing else.
    fn check_names(&self, e: &Expr) -> Result<(), String> {
        let all = |es: &[Expr]| es.iter().try_for_each(|e| self.check_names(e));
        match e {
            Expr::Lit(_) => Ok(()),
            Expr::Name(n) if *n == self.param => Ok(()),
            Expr::Name(n) => Err(format!(
                "`{n}` is not the lambda's parameter `{}`, nor a function a filter may call (len)",
                self.param
            )),
            Expr::List(items) => all(items),
            Expr::Or(a, b) | Expr::And(a, b) | Expr::Arith(a, _, b) | Expr::Index(a, b) => {
                self.check_names(a)?;
                self.check_names(b)
            }
            Expr::Not(a) | Expr::Neg(a) | Expr::Len(a) => self.check_names(a),
            Expr::Compare(first, rest) => {
                self.check_names(first)?;
                rest.iter().try_for_each(|(_, e)| self.check_names(e))
            }
            Expr::Call(v, _, args) => {
                self.check_names(v)?;
                all(args)
            }
        }
    }
}

/// A local trace file's record as inference-perf's loader normalizes it before filtering
/// (`_normalize_file_trace`): `session_id` (else `trace_id`, else the file stem), `source_id`
/// (the path), `harness` and `benchmark` (`unknown`), `models` (the spans' request models),
/// `max_tokens` and `total_tokens` (input + output tokens of the largest span and of all),
/// each only where the trace does not have it (`source_id` always).
pub(crate) fn normalized(data: &Value, stem: &str, path: &str) -> Value {
    let mut m = data.as_object().cloned().unwrap_or_default();
    if !m.contains_key("session_id") {
        let id = match m.get("trace_id") {
            Some(v) if truthy(v) => v.clone(),
            _ => json!(stem),
        };
        m.insert("session_id".into(), id);
    }
    m.insert("source_id".into(), json!(path));
    for k in ["harness", "benchmark"] {
        m.entry(k).or_insert_with(|| json!("unknown"));
    }
    let spans: &[Value] = data
        .get("spans")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice);
    let attr = |s: &Value, k: &str| s.get("attributes").and_then(|a| a.get(k)).cloned();
    if !m.contains_key("models") {
        let mut models: Vec<Value> = Vec::new();
        for s in spans {
            if let Some(v) = attr(s, "gen_ai.request.model").filter(truthy) {
                if !models.contains(&v) {
                    models.push(v);
                }
            }
        }
        m.insert("models".into(), Value::Array(models));
    }
    if !m.contains_key("max_tokens") || !m.contains_key("total_tokens") {
        let (mut max, mut total) = (0f64, 0f64);
        for s in spans {
            let n = |k| attr(s, k).and_then(|v| v.as_f64()).unwrap_or(0.0);
            let t = n("gen_ai.usage.input_tokens") + n("gen_ai.usage.output_tokens");
            max = max.max(t);
            total += t;
        }
        m.entry("max_tokens").or_insert_with(|| number(max));
        m.entry("total_tokens").or_insert_with(|| number(total));
    }
    Value::Object(m)
}

fn number(v: f64) -> Value {
    if v.fract() == 0.0 && v.abs() < 9.0e15 {
        json!(v as i64)
    } else {
        json!(v)
    }
}

fn show(t: Option<&Tok>) -> String {
    match t {
        None => "the end".into(),
        Some(Tok::Name(n)) => format!("`{n}`"),
        Some(Tok::Str(s)) => format!("{s:?}"),
        Some(Tok::Num(n)) => format!("{n}"),
        Some(Tok::Punct(p)) => format!("`{p}`"),
    }
}

const PUNCT: [&str; 15] = [
    "==", "!=", "<=", ">=", "<", ">", "(", ")", "[", "]", ",", ".", ":", "+", "-",
];

fn lex(text: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '\'' || c == '"' {
            let mut s = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err("a string that does not end".into()),
                    Some(&q) if q == c => break,
                    Some('\\') => {
                        let e = chars.get(i + 1).ok_or("a string that does not end")?;
                        s.push(match e {
                            'n' => '\n',
                            't' => '\t',
                            other => *other,
                        });
                        i += 2;
                        continue;
                    }
                    Some(&ch) => s.push(ch),
                }
                i += 1;
            }
            i += 1;
            out.push(Tok::Str(s));
        } else if c.is_ascii_digit()
            || (c == '.' && chars.get(i + 1).is_some_and(char::is_ascii_digit))
        {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '.' || chars[i] == '_')
            {
                i += 1;
            }
            let lit: String = chars[start..i].iter().filter(|c| **c != '_').collect();
            let n = lit
                .parse::<f64>()
                .map_err(|_| format!("`{lit}` is not a number"))?;
            out.push(Tok::Num(n));
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            out.push(Tok::Name(chars[start..i].iter().collect()));
        } else {
            let rest: String = chars[i..chars.len().min(i + 2)].iter().collect();
            let p = PUNCT
                .iter()
                .find(|p| rest.starts_with(**p))
                .ok_or_else(|| format!("`{c}` is not read in a filter"))?;
            out.push(Tok::Punct(p));
            i += p.len();
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    at: usize,
    depth: usize,
}

impl Parser {
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.at).cloned();
        self.at += 1;
        t
    }

    fn peek_is(&self, t: &Tok) -> bool {
        self.toks.get(self.at) == Some(t)
    }

    fn eat_punct(&mut self, p: &'static str) -> bool {
        let hit = self.peek_is(&Tok::Punct(p));
        self.at += usize::from(hit);
        hit
    }

    fn eat_keyword(&mut self, k: &str) -> bool {
        let hit = self.peek_is(&Tok::Name(k.into()));
        self.at += usize::from(hit);
        hit
    }

    fn punct(&mut self, p: &'static str) -> Result<(), String> {
        if self.eat_punct(p) {
            Ok(())
        } else {
            Err(format!(
                "expected `{p}`, found {}",
                show(self.toks.get(self.at))
            ))
        }
    }

    fn keyword(&mut self, k: &str) -> Result<(), String> {
        if self.eat_keyword(k) {
            Ok(())
        } else {
            Err(format!(
                "expected `{k}`, found {}",
                show(self.toks.get(self.at))
            ))
        }
    }

    fn expr(&mut self) -> Result<Expr, String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("nested more than {MAX_DEPTH} levels"));
        }
        let mut e = self.and()?;
        while self.eat_keyword("or") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        self.depth -= 1;
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.not()?;
        while self.eat_keyword("and") {
            e = Expr::And(Box::new(e), Box::new(self.not()?));
        }
        Ok(e)
    }

    fn not(&mut self) -> Result<Expr, String> {
        if self.eat_keyword("not") {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(format!("nested more than {MAX_DEPTH} levels"));
            }
            let e = Expr::Not(Box::new(self.not()?));
            self.depth -= 1;
            return Ok(e);
        }
        self.compare()
    }

    fn op(&mut self) -> Option<Op> {
        let ops = [
            ("==", Op::Eq),
            ("!=", Op::Ne),
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
        ];
        for (p, op) in ops {
            if self.eat_punct(p) {
                return Some(op);
            }
        }
        if self.eat_keyword("in") {
            return Some(Op::In);
        }
        if self.peek_is(&Tok::Name("not".into()))
            && self.toks.get(self.at + 1) == Some(&Tok::Name("in".into()))
        {
            self.at += 2;
            return Some(Op::NotIn);
        }
        if self.eat_keyword("is") {
            return Some(if self.eat_keyword("not") {
                Op::IsNot
            } else {
                Op::Is
            });
        }
        None
    }

    fn compare(&mut self) -> Result<Expr, String> {
        let first = self.sum()?;
        let mut rest = Vec::new();
        while let Some(op) = self.op() {
            rest.push((op, self.sum()?));
        }
        Ok(if rest.is_empty() {
            first
        } else {
            Expr::Compare(Box::new(first), rest)
        })
    }

    fn sum(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        loop {
            let plus = if self.eat_punct("+") {
                true
            } else if self.eat_punct("-") {
                false
            } else {
                return Ok(e);
            };
            e = Expr::Arith(Box::new(e), plus, Box::new(self.unary()?));
        }
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat_punct("-") {
            self.depth += 1;
            if self.depth > MAX_DEPTH {
                return Err(format!("nested more than {MAX_DEPTH} levels"));
            }
            let e = Expr::Neg(Box::new(self.unary()?));
            self.depth -= 1;
            return Ok(e);
        }
        self.postfix()
    }

    fn postfix(&mut self) -> Result<Expr, String> {
        let mut e = self.primary()?;
        loop {
            if self.eat_punct("[") {
                let key = self.expr()?;
                self.punct("]")?;
                e = Expr::Index(Box::new(e), Box::new(key));
            } else if self.eat_punct(".") {
                let name = match self.next() {
                    Some(Tok::Name(n)) if ["get", "startswith", "endswith", "lower", "upper"].contains(&n.as_str()) => n,
                    other => return Err(format!("method {} is not read in a filter (get, startswith, endswith, lower, upper are)", show(other.as_ref()))),
                };
                self.punct("(")?;
                let args = self.list_until(")")?;
                e = Expr::Call(Box::new(e), name, args);
            } else {
                return Ok(e);
            }
        }
    }

    fn list_until(&mut self, close: &'static str) -> Result<Vec<Expr>, String> {
        let mut items = Vec::new();
        while !self.eat_punct(close) {
            items.push(self.expr()?);
            if !self.eat_punct(",") {
                self.punct(close)?;
                break;
            }
        }
        Ok(items)
    }

    fn primary(&mut self) -> Result<Expr, String> {
        match self.next() {
            Some(Tok::Num(n)) => Ok(Expr::Lit(number(n))),
            Some(Tok::Str(s)) => Ok(Expr::Lit(Value::String(s))),
            Some(Tok::Punct("(")) => {
                let e = self.expr()?;
                self.punct(")")?;
                Ok(e)
            }
            Some(Tok::Punct("[")) => Ok(Expr::List(self.list_until("]")?)),
            Some(Tok::Name(n)) => match n.as_str() {
                "True" => Ok(Expr::Lit(Value::Bool(true))),
                "False" => Ok(Expr::Lit(Value::Bool(false))),
                "None" => Ok(Expr::Lit(Value::Null)),
                "len" => {
                    self.punct("(")?;
                    let e = self.expr()?;
                    self.punct(")")?;
                    Ok(Expr::Len(Box::new(e)))
                }
                _ if self.peek_is(&Tok::Punct("(")) => {
                    Err(format!("`{n}(...)`: a filter calls no function but len()"))
                }
                _ => Ok(Expr::Name(n)),
            },
            other => Err(format!("unexpected {}", show(other.as_ref()))),
        }
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "NoneType",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

/// A number of `v` as Python sees it (`True` is 1).
fn num(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn order(a: &Value, b: &Value) -> Result<Ordering, String> {
    if let (Some(x), Some(y)) = (num(a), num(b)) {
        return x
            .partial_cmp(&y)
            .ok_or_else(|| "a comparison with NaN".to_string());
    }
    match (a, b) {
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ => Err(format!(
            "TypeError: cannot order {} and {}",
            type_name(a),
            type_name(b)
        )),
    }
}

fn compare(op: Op, a: &Value, b: &Value) -> Result<bool, String> {
    Ok(match op {
        Op::Eq => equal(a, b),
        Op::Ne => !equal(a, b),
        Op::Lt => order(a, b)? == Ordering::Less,
        Op::Le => order(a, b)? != Ordering::Greater,
        Op::Gt => order(a, b)? == Ordering::Greater,
        Op::Ge => order(a, b)? != Ordering::Less,
        Op::Is => a == b && matches!(a, Value::Null | Value::Bool(_)),
        Op::IsNot => !(a == b && matches!(a, Value::Null | Value::Bool(_))),
        Op::In | Op::NotIn => {
            let hit = match b {
                Value::String(s) => match a {
                    Value::String(needle) => s.contains(needle.as_str()),
                    _ => {
                        return Err(format!(
                            "TypeError: `in <str>` needs a str, not {}",
                            type_name(a)
                        ))
                    }
                },
                Value::Array(items) => items.iter().any(|i| equal(a, i)),
                Value::Object(o) => a.as_str().is_some_and(|k| o.contains_key(k)),
                _ => return Err(format!("TypeError: `in` a {}", type_name(b))),
            };
            hit == (op == Op::In)
        }
    })
}

fn index(v: &Value, key: &Value) -> Result<Value, String> {
    match (v, key) {
        (Value::Object(o), Value::String(k)) => {
            o.get(k).cloned().ok_or_else(|| format!("KeyError: {k:?}"))
        }
        (Value::Array(a), k) if num(k).is_some_and(|f| f.fract() == 0.0) => {
            let i = num(k).unwrap_or(0.0) as i64;
            let at = if i < 0 { a.len() as i64 + i } else { i };
            usize::try_from(at)
                .ok()
                .and_then(|at| a.get(at))
                .cloned()
                .ok_or_else(|| format!("IndexError: {i} in a list of {}", a.len()))
        }
        _ => Err(format!(
            "TypeError: a {} indexed by a {}",
            type_name(v),
            type_name(key)
        )),
    }
}

fn call(v: &Value, name: &str, args: &[Value]) -> Result<Value, String> {
    let arity = |lo: usize, hi: usize| {
        if (lo..=hi).contains(&args.len()) {
            Ok(())
        } else {
            Err(format!(
                "{name}() takes {lo} to {hi} arguments, {} given",
                args.len()
            ))
        }
    };
    match (v, name) {
        (Value::Object(o), "get") => {
            arity(1, 2)?;
            let found = args[0].as_str().and_then(|k| o.get(k));
            Ok(found.or(args.get(1)).cloned().unwrap_or(Value::Null))
        }
        (Value::String(s), "startswith" | "endswith") => {
            arity(1, 1)?;
            let p = args[0]
                .as_str()
                .ok_or_else(|| format!("TypeError: {name}() takes a str"))?;
            Ok(Value::Bool(if name == "startswith" {
                s.starts_with(p)
            } else {
                s.ends_with(p)
            }))
        }
        (Value::String(s), "lower" | "upper") => {
            arity(0, 0)?;
            Ok(json!(if name == "lower" {
                s.to_lowercase()
            } else {
                s.to_uppercase()
            }))
        }
        _ => Err(format!(
            "AttributeError: a {} has no {name}()",
            type_name(v)
        )),
    }
}

fn eval(e: &Expr, row: &Value) -> Result<Value, String> {
    let go = |e: &Expr| eval(e, row);
    Ok(match e {
        Expr::Lit(v) => v.clone(),
        Expr::Name(_) => row.clone(),
        Expr::List(items) => Value::Array(items.iter().map(go).collect::<Result<_, _>>()?),
        Expr::Or(a, b) => {
            let a = go(a)?;
            if truthy(&a) {
                a
            } else {
                go(b)?
            }
        }
        Expr::And(a, b) => {
            let a = go(a)?;
            if truthy(&a) {
                go(b)?
            } else {
                a
            }
        }
        Expr::Not(a) => Value::Bool(!truthy(&go(a)?)),
        Expr::Compare(first, rest) => {
            let mut left = go(first)?;
            for (op, right) in rest {
                let right = go(right)?;
                if !compare(*op, &left, &right)? {
                    return Ok(Value::Bool(false));
                }
                left = right;
            }
            Value::Bool(true)
        }
        Expr::Arith(a, plus, b) => {
            let (a, b) = (go(a)?, go(b)?);
            match (num(&a), num(&b), &a, &b) {
                (Some(x), Some(y), _, _) => number(if *plus { x + y } else { x - y }),
                (_, _, Value::String(x), Value::String(y)) if *plus => json!(format!("{x}{y}")),
                _ => {
                    return Err(format!(
                        "TypeError: {} {} {}",
                        type_name(&a),
                        if *plus { "+" } else { "-" },
                        type_name(&b)
                    ))
                }
            }
        }
        Expr::Neg(a) => {
            let a = go(a)?;
            number(-num(&a).ok_or_else(|| format!("TypeError: -{}", type_name(&a)))?)
        }
        Expr::Index(v, k) => index(&go(v)?, &go(k)?)?,
        Expr::Call(v, name, args) => {
            let args: Vec<Value> = args.iter().map(go).collect::<Result<_, _>>()?;
            call(&go(v)?, name, &args)?
        }
        Expr::Len(v) => match go(v)? {
            Value::String(s) => json!(s.chars().count()),
            Value::Array(a) => json!(a.len()),
            Value::Object(o) => json!(o.len()),
            other => return Err(format!("TypeError: len() of a {}", type_name(&other))),
        },
    })
}
