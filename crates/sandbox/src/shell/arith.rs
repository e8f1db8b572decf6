//! Shell arithmetic (`$((...))`, `((...))`, `let`): 64-bit integers with
//! C's operators and precedence, variables (unset or empty is 0),
//! assignments (`=`, `+=`, `++`...), and `0x1f`, `017`, `2#101` numbers.
//! Errors are ash's (`arithmetic syntax error`, `divide by zero`).

/// What the evaluator reads and writes: the shell's variables.
pub trait ArithEnv {
    fn get(&self, name: &str) -> Option<String>;
    fn set(&mut self, name: &str, value: i64) -> Result<(), String>;
}

/// Deepest nesting of parentheses and operators.
const MAX_DEPTH: usize = 200;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Num(i64),
    Ident(String),
    Op(&'static str),
}

const OPS: &[&str] = &[
    "<<=", ">>=", "**", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "++", "--", "+=", "-=",
    "*=", "/=", "%=", "&=", "|=", "^=", "+", "-", "*", "/", "%", "<", ">", "&", "|", "^", "~", "!",
    "?", ":", "=", "(", ")", ",",
];

const SYNTAX: &str = "arithmetic syntax error";

fn number(text: &str) -> Result<i64, String> {
    let bad = || SYNTAX.to_string();
    if let Some((base, digits)) = text.split_once('#') {
        let base: u32 = base.parse().map_err(|_| bad())?;
        if !(2..=64).contains(&base) {
            return Err(bad());
        }
        let mut n: i64 = 0;
        for c in digits.chars() {
            let d = match c {
                '0'..='9' => c as u32 - '0' as u32,
                'a'..='z' => c as u32 - 'a' as u32 + 10,
                'A'..='Z' if base <= 36 => c as u32 - 'A' as u32 + 10,
                'A'..='Z' => c as u32 - 'A' as u32 + 36,
                '@' => 62,
                '_' => 63,
                _ => return Err(bad()),
            };
            if d >= base {
                return Err(bad());
            }
            n = n.wrapping_mul(i64::from(base)).wrapping_add(i64::from(d));
        }
        return Ok(n);
    }
    if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        return u64::from_str_radix(hex, 16)
            .map(|v| v as i64)
            .map_err(|_| bad());
    }
    if text.len() > 1 && text.starts_with('0') {
        return u64::from_str_radix(&text[1..], 8)
            .map(|v| v as i64)
            .map_err(|_| bad());
    }
    // Too big for 64 bits: wraps, as the shells' strtoll-based code does.
    match text.parse::<i64>() {
        Ok(n) => Ok(n),
        Err(_) if text.chars().all(|c| c.is_ascii_digit()) => {
            Ok(text.bytes().fold(0i64, |n, d| {
                n.wrapping_mul(10).wrapping_add(i64::from(d - b'0'))
            }))
        }
        Err(_) => Err(bad()),
    }
}

fn tokenize(expr: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = expr.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        if c.is_ascii_digit() {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || matches!(chars[i], '#' | '@' | '_'))
            {
                i += 1;
            }
            let text: String = chars[start..i].iter().collect();
            toks.push(Tok::Num(number(&text)?));
            continue;
        }
        if c == '_' || c.is_ascii_alphabetic() {
            let start = i;
            while i < chars.len() && (chars[i] == '_' || chars[i].is_ascii_alphanumeric()) {
                i += 1;
            }
            toks.push(Tok::Ident(chars[start..i].iter().collect()));
            continue;
        }
        let rest: String = chars[i..chars.len().min(i + 3)].iter().collect();
        match OPS.iter().find(|op| rest.starts_with(*op)) {
            Some(op) => {
                toks.push(Tok::Op(op));
                i += op.len();
            }
            None => return Err(SYNTAX.to_string()),
        }
    }
    Ok(toks)
}

struct Eval<'a> {
    toks: Vec<Tok>,
    pos: usize,
    env: &'a mut dyn ArithEnv,
    depth: usize,
}

/// Evaluates `expr`.
pub fn eval(expr: &str, env: &mut dyn ArithEnv) -> Result<i64, String> {
    let toks = tokenize(expr)?;
    if toks.is_empty() {
        return Ok(0);
    }
    let mut e = Eval {
        toks,
        pos: 0,
        env,
        depth: 0,
    };
    let v = e.comma(true)?;
    if e.pos != e.toks.len() {
        return Err(SYNTAX.to_string());
    }
    Ok(v)
}

impl Eval<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn peek_op(&self) -> Option<&'static str> {
        match self.peek() {
            Some(Tok::Op(op)) => Some(op),
            _ => None,
        }
    }

    fn eat(&mut self, op: &str) -> bool {
        if self.peek_op() == Some(op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn deeper(&mut self) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err("expression recursion loop detected".to_string());
        }
        Ok(())
    }

    fn var(&mut self, name: &str, live: bool) -> Result<i64, String> {
        if !live {
            return Ok(0);
        }
        let value = self.env.get(name).unwrap_or_default();
        let value = value.trim();
        if value.is_empty() {
            return Ok(0);
        }
        if let Ok(n) = number(value) {
            return Ok(n);
        }
        // A variable holding an expression is evaluated (bounded).
        self.deeper()?;
        let toks = tokenize(value)?;
        let mut sub = Eval {
            toks,
            pos: 0,
            env: &mut *self.env,
            depth: self.depth,
        };
        let v = sub.comma(true)?;
        if sub.pos != sub.toks.len() {
            return Err(SYNTAX.to_string());
        }
        self.depth -= 1;
        Ok(v)
    }

    fn set(&mut self, name: &str, v: i64, live: bool) -> Result<i64, String> {
        if live {
            self.env.set(name, v)?;
        }
        Ok(v)
    }

    fn comma(&mut self, live: bool) -> Result<i64, String> {
        let mut v = self.assign(live)?;
        while self.eat(",") {
            v = self.assign(live)?;
        }
        Ok(v)
    }

    fn assign(&mut self, live: bool) -> Result<i64, String> {
        self.deeper()?;
        let r = self.assign_inner(live);
        self.depth -= 1;
        r
    }

    fn assign_inner(&mut self, live: bool) -> Result<i64, String> {
        if let Some(Tok::Ident(name)) = self.peek().cloned()
            && let Some(Tok::Op(op)) = self.toks.get(self.pos + 1).cloned()
            && matches!(
                op,
                "=" | "+=" | "-=" | "*=" | "/=" | "%=" | "<<=" | ">>=" | "&=" | "|=" | "^="
            )
        {
            self.pos += 2;
            let rhs = self.assign(live)?;
            let v = if op == "=" {
                rhs
            } else {
                let cur = self.var(&name, live)?;
                binary(&op[..op.len() - 1], cur, rhs, live)?
            };
            return self.set(&name, v, live);
        }
        self.cond(live)
    }

    fn cond(&mut self, live: bool) -> Result<i64, String> {
        let c = self.binary(0, live)?;
        if !self.eat("?") {
            return Ok(c);
        }
        let a = self.comma(live && c != 0)?;
        if !self.eat(":") {
            return Err("malformed ?: operator".to_string());
        }
        let b = self.cond(live && c == 0)?;
        Ok(if c != 0 { a } else { b })
    }

    /// Binary operators by precedence level (0 = `||`).
    fn binary(&mut self, level: usize, live: bool) -> Result<i64, String> {
        const LEVELS: &[&[&str]] = &[
            &["||"],
            &["&&"],
            &["|"],
            &["^"],
            &["&"],
            &["==", "!="],
            &["<", "<=", ">", ">="],
            &["<<", ">>"],
            &["+", "-"],
            &["*", "/", "%"],
        ];
        if level == LEVELS.len() {
            return self.power(live);
        }
        self.deeper()?;
        let mut left = self.binary(level + 1, live)?;
        while let Some(op) = self.peek_op().filter(|op| LEVELS[level].contains(op)) {
            self.pos += 1;
            let right_live = match op {
                "||" => live && left == 0,
                "&&" => live && left != 0,
                _ => live,
            };
            let right = self.binary(level + 1, right_live)?;
            left = match op {
                "||" => i64::from(left != 0 || right != 0),
                "&&" => i64::from(left != 0 && right != 0),
                _ => binary(op, left, right, live)?,
            };
        }
        self.depth -= 1;
        Ok(left)
    }

    fn power(&mut self, live: bool) -> Result<i64, String> {
        let base = self.unary(live)?;
        if self.eat("**") {
            self.deeper()?;
            let exp = self.power(live)?;
            self.depth -= 1;
            return binary("**", base, exp, live);
        }
        Ok(base)
    }

    fn unary(&mut self, live: bool) -> Result<i64, String> {
        self.deeper()?;
        let r = self.unary_inner(live);
        self.depth -= 1;
        r
    }

    fn unary_inner(&mut self, live: bool) -> Result<i64, String> {
        match self.peek().cloned() {
            Some(Tok::Op(op @ ("+" | "-" | "!" | "~"))) => {
                self.pos += 1;
                let v = self.unary(live)?;
                Ok(match op {
                    "-" => v.wrapping_neg(),
                    "!" => i64::from(v == 0),
                    "~" => !v,
                    _ => v,
                })
            }
            Some(Tok::Op(op @ ("++" | "--"))) => {
                self.pos += 1;
                let Some(Tok::Ident(name)) = self.peek().cloned() else {
                    return Err(SYNTAX.to_string());
                };
                self.pos += 1;
                let v = self.var(&name, live)?;
                let v = if op == "++" {
                    v.wrapping_add(1)
                } else {
                    v.wrapping_sub(1)
                };
                self.set(&name, v, live)
            }
            Some(Tok::Op("(")) => {
                self.pos += 1;
                let v = self.comma(live)?;
                if !self.eat(")") {
                    return Err(SYNTAX.to_string());
                }
                Ok(v)
            }
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Ok(n)
            }
            Some(Tok::Ident(name)) => {
                self.pos += 1;
                let v = self.var(&name, live)?;
                match self.peek_op() {
                    Some(op @ ("++" | "--")) => {
                        self.pos += 1;
                        let n = if op == "++" {
                            v.wrapping_add(1)
                        } else {
                            v.wrapping_sub(1)
                        };
                        self.set(&name, n, live)?;
                        Ok(v)
                    }
                    _ => Ok(v),
                }
            }
            _ => Err(SYNTAX.to_string()),
        }
    }
}

fn binary(op: &str, a: i64, b: i64, live: bool) -> Result<i64, String> {
    Ok(match op {
        "+" => a.wrapping_add(b),
        "-" => a.wrapping_sub(b),
        "*" => a.wrapping_mul(b),
        "/" | "%" => {
            if b == 0 {
                if !live {
                    return Ok(0);
                }
                return Err("divide by zero".to_string());
            }
            if op == "/" {
                a.wrapping_div(b)
            } else {
                a.wrapping_rem(b)
            }
        }
        "**" => {
            if b < 0 {
                return Err("exponent less than 0".to_string());
            }
            a.wrapping_pow(u32::try_from(b).unwrap_or(u32::MAX))
        }
        "<<" => a.wrapping_shl((b & 63) as u32),
        ">>" => a.wrapping_shr((b & 63) as u32),
        "&" => a & b,
        "|" => a | b,
        "^" => a ^ b,
        "==" => i64::from(a == b),
        "!=" => i64::from(a != b),
        "<" => i64::from(a < b),
        "<=" => i64::from(a <= b),
        ">" => i64::from(a > b),
        ">=" => i64::from(a >= b),
        _ => return Err(SYNTAX.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Vars(HashMap<String, String>);
    impl ArithEnv for Vars {
        fn get(&self, name: &str) -> Option<String> {
            self.0.get(name).cloned()
        }
        fn set(&mut self, name: &str, value: i64) -> Result<(), String> {
            self.0.insert(name.to_string(), value.to_string());
            Ok(())
        }
    }

    #[test]
    fn operators_and_variables() {
        let mut v = Vars::default();
        let mut e = |s: &str| eval(s, &mut v);
        assert_eq!(e("2 * (3 + 4) % 5"), Ok(4));
        assert_eq!(e("1 << 4 | 1"), Ok(17));
        assert_eq!(e("2 ** 10"), Ok(1024));
        assert_eq!(e("0x10 + 010 + 2#101"), Ok(29));
        assert_eq!(e("x = 5, x += 2, x++"), Ok(7));
        assert_eq!(e("x"), Ok(8));
        assert_eq!(e("--x"), Ok(7));
        assert_eq!(e("x > 3 ? 10 : 20"), Ok(10));
        assert_eq!(e("!0 && 3 || 0"), Ok(1));
        assert_eq!(e("unset + 1"), Ok(1));
        assert_eq!(e("- - 3"), Ok(3));
        assert_eq!(e("1/0"), Err("divide by zero".into()));
        assert_eq!(e("0 && 1/0"), Ok(0));
        assert_eq!(e("1 +"), Err(SYNTAX.into()));
        assert_eq!(e(""), Ok(0));
        assert_eq!(e("9223372036854775807 + 1"), Ok(i64::MIN));
    }

    #[test]
    fn bounded() {
        let mut v = Vars::default();
        assert!(eval(&"(".repeat(100_000), &mut v).is_err());
        assert!(eval(&"-".repeat(100_000), &mut v).is_err());
        v.0.insert("a".into(), "b".into());
        v.0.insert("b".into(), "a".into());
        assert!(eval("a", &mut v).is_err());
    }
}
