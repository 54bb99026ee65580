//! The JSON-path filter's grammar (see the module above), by recursive
//! descent over the expression's text. Errors name the byte they stopped
//! at.
//!
//! ```text
//! filter      = "$[?" ["("] condition [")"] "]" | condition      (root `@`, root `$`)
//! condition   = conjunction *("||" conjunction)
//! conjunction = test *("&&" test)
//! test        = "!" root path | root path [operator literal | "in" list]
//! path        = *("." name | "[" (index | quoted) "]")
//! ```

use serde_json::Value;

use super::{JsonFilter, Operator, Test};

pub(super) fn parse(expression: &str) -> Result<JsonFilter, String> {
    let mut cursor = Cursor { text: expression, at: 0 };
    cursor.skip_spaces();
    if cursor.rest().is_empty() {
        return Err("is empty".into());
    }
    let any_of = if cursor.eat("$[?") {
        cursor.skip_spaces();
        let parenthesised = cursor.eat("(");
        let any_of = cursor.condition('@')?;
        cursor.skip_spaces();
        if parenthesised {
            cursor.expect(")")?;
            cursor.skip_spaces();
        }
        cursor.expect("]")?;
        any_of
    } else {
        cursor.condition('$')?
    };
    cursor.skip_spaces();
    if !cursor.rest().is_empty() {
        return Err(cursor.unexpected("the end"));
    }
    Ok(JsonFilter { any_of })
}

struct Cursor<'a> {
    text: &'a str,
    /// Byte offset of what is read next.
    at: usize,
}

impl Cursor<'_> {
    fn rest(&self) -> &str {
        self.text.get(self.at..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let next = self.peek()?;
        self.at += next.len_utf8();
        Some(next)
    }

    fn skip_spaces(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.bump();
        }
    }

    fn eat(&mut self, token: &str) -> bool {
        let found = self.rest().starts_with(token);
        if found {
            self.at += token.len();
        }
        found
    }

    fn expect(&mut self, token: &str) -> Result<(), String> {
        if self.eat(token) { Ok(()) } else { Err(self.unexpected(&format!("`{token}`"))) }
    }

    fn unexpected(&self, wanted: &str) -> String {
        let found: String = self.rest().chars().take(12).collect();
        if found.is_empty() {
            format!("expected {wanted} at byte {}, found the end", self.at)
        } else {
            format!("expected {wanted} at byte {}, found `{found}`", self.at)
        }
    }

    fn condition(&mut self, root: char) -> Result<Vec<Vec<Test>>, String> {
        let mut any_of = vec![self.conjunction(root)?];
        loop {
            self.skip_spaces();
            if !self.eat("||") {
                return Ok(any_of);
            }
            any_of.push(self.conjunction(root)?);
        }
    }

    fn conjunction(&mut self, root: char) -> Result<Vec<Test>, String> {
        let mut all_of = vec![self.test(root)?];
        loop {
            self.skip_spaces();
            if !self.eat("&&") {
                return Ok(all_of);
            }
            all_of.push(self.test(root)?);
        }
    }

    fn test(&mut self, root: char) -> Result<Test, String> {
        self.skip_spaces();
        let negated = self.eat("!");
        self.skip_spaces();
        if self.peek() != Some(root) {
            return Err(self.unexpected(&format!("a path starting with `{root}`")));
        }
        self.bump();
        let pointer = self.path()?;
        if negated {
            return Ok(Test::Exists { pointer, negated });
        }
        self.skip_spaces();
        if let Some(operator) = self.operator() {
            self.skip_spaces();
            let literal = self.literal()?;
            return Ok(Test::Compare { pointer, operator, literal });
        }
        if self.rest().starts_with("in") && !self.rest()[2..].starts_with(is_name_char) {
            self.at += 2;
            self.skip_spaces();
            return Ok(Test::In { pointer, literals: self.list()? });
        }
        Ok(Test::Exists { pointer, negated })
    }

    /// `.name`, `['name']` and `[index]` steps, as a JSON pointer.
    fn path(&mut self) -> Result<String, String> {
        let mut pointer = String::new();
        loop {
            if self.eat(".") {
                if self.peek() == Some('*') || self.peek() == Some('.') {
                    return Err(format!("wildcards and `..` are not supported (byte {})", self.at));
                }
                let start = self.at;
                while self.peek().is_some_and(is_name_char) {
                    self.bump();
                }
                if self.at == start {
                    return Err(self.unexpected("a field name"));
                }
                push_step(&mut pointer, &self.text[start..self.at]);
            } else if self.rest().starts_with('[') && !self.rest().starts_with("[?") {
                self.bump();
                self.skip_spaces();
                match self.peek() {
                    Some('\'' | '"') => {
                        let name = self.quoted()?;
                        push_step(&mut pointer, &name);
                    }
                    Some(digit) if digit.is_ascii_digit() => {
                        let start = self.at;
                        while self.peek().is_some_and(|next| next.is_ascii_digit()) {
                            self.bump();
                        }
                        push_step(&mut pointer, &self.text[start..self.at]);
                    }
                    _ => return Err(self.unexpected("a quoted name or an array index")),
                }
                self.skip_spaces();
                self.expect("]")?;
            } else {
                return Ok(pointer);
            }
        }
    }

    fn operator(&mut self) -> Option<Operator> {
        let operators = [
            ("==", Operator::Equal),
            ("!=", Operator::NotEqual),
            ("<=", Operator::LessOrEqual),
            (">=", Operator::GreaterOrEqual),
            ("<", Operator::Less),
            (">", Operator::Greater),
        ];
        operators.into_iter().find(|(token, _)| self.eat(token)).map(|(_, operator)| operator)
    }

    fn list(&mut self) -> Result<Vec<Value>, String> {
        self.expect("[")?;
        let mut literals = Vec::new();
        loop {
            self.skip_spaces();
            literals.push(self.literal()?);
            self.skip_spaces();
            if self.eat("]") {
                return Ok(literals);
            }
            self.expect(",")?;
        }
    }

    /// A number, a quoted string, `true`, `false` or `null`.
    fn literal(&mut self) -> Result<Value, String> {
        match self.peek() {
            Some('\'' | '"') => Ok(Value::String(self.quoted()?)),
            Some(next) if next == '-' || next.is_ascii_digit() => {
                let start = self.at;
                while self.peek().is_some_and(|next| next.is_ascii_digit() || "+-.eE".contains(next)) {
                    self.bump();
                }
                let text = &self.text[start..self.at];
                match serde_json::from_str::<serde_json::Number>(text) {
                    Ok(number) => Ok(Value::Number(number)),
                    Err(_) => Err(format!("`{text}` at byte {start} is not a number")),
                }
            }
            _ => {
                for (word, value) in [("true", Value::Bool(true)), ("false", Value::Bool(false)), ("null", Value::Null)]
                {
                    if self.rest().starts_with(word) && !self.rest()[word.len()..].starts_with(is_name_char) {
                        self.at += word.len();
                        return Ok(value);
                    }
                }
                Err(self.unexpected("a number, a quoted string, true, false or null"))
            }
        }
    }

    /// A string in single or double quotes, with JSON's backslash escapes.
    fn quoted(&mut self) -> Result<String, String> {
        let start = self.at;
        let Some(quote) = self.bump() else { return Err(self.unexpected("a quote")) };
        let mut text = String::new();
        loop {
            match self.bump() {
                None => return Err(format!("the string at byte {start} is not closed")),
                Some(next) if next == quote => return Ok(text),
                Some('\\') => {
                    let escaped = match self.bump() {
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('b') => '\u{8}',
                        Some('f') => '\u{c}',
                        Some('u') => {
                            let hex: String = self.rest().chars().take(4).collect();
                            let code = u32::from_str_radix(&hex, 16).ok().filter(|_| hex.len() == 4);
                            self.at += hex.len();
                            code.and_then(char::from_u32)
                                .ok_or_else(|| format!("bad `\\u{hex}` escape before byte {}", self.at))?
                        }
                        Some(other) => other,
                        None => return Err(format!("the string at byte {start} is not closed")),
                    };
                    text.push(escaped);
                }
                Some(other) => text.push(other),
            }
        }
    }
}

fn is_name_char(next: char) -> bool {
    next.is_alphanumeric() || next == '_'
}

/// One pointer step, escaped as RFC 6901 says (`~` as `~0`, `/` as `~1`).
fn push_step(pointer: &mut String, step: &str) {
    pointer.push('/');
    pointer.push_str(&step.replace('~', "~0").replace('/', "~1"));
}
