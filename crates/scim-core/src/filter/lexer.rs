//! The tokens of the filter language and the on-demand lexer that produces them.
//!
//! The lexer is context-free and linear: each call to [`Lexer::next_token`] consumes one
//! token and never looks back. Attribute paths, operators and the keywords `and`, `or`,
//! `not`, `true`, `false`, `null` all arrive as [`TokenKind::Word`]; the parser decides
//! which one a word is from where it stands.

use serde_json::Number;

/// What a token is.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum TokenKind<'a> {
    /// A run of name characters: an attribute path (possibly URN-qualified and dotted), an
    /// operator or a keyword.
    Word(&'a str),
    /// A JSON string, escapes decoded.
    Str(String),
    /// A JSON number.
    Number(Number),
    LParen,
    RParen,
    LBracket,
    RBracket,
    /// A `.` that does not belong to a word: the one after `]` in `emails[…].value`.
    Dot,
    End,
}

/// A token and where it starts (a byte offset into the filter text).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token<'a> {
    pub kind: TokenKind<'a>,
    pub start: usize,
}

/// A syntax error: a byte offset into the filter text and what went wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub at: usize,
    pub message: String,
}

impl SyntaxError {
    pub fn new(at: usize, message: impl Into<String>) -> Self {
        SyntaxError {
            at,
            message: message.into(),
        }
    }
}

/// Whether `c` may start a word (attribute names start with a letter; `$ref` with `$`).
fn starts_word(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '$'
}

/// Whether `c` may continue a word: name characters plus the `:` and `.` of URN-qualified
/// and dotted paths (`urn:…:2.0:User:manager.value`).
fn continues_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ':' | '.' | '$')
}

/// Whitespace between tokens. The RFC asks for single spaces; tabs and line breaks are
/// tolerated because URL-decoding and hand-written filters produce them.
pub(crate) fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// Produces tokens one at a time from a filter text.
#[derive(Debug, Clone)]
pub(crate) struct Lexer<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(text: &'a str) -> Self {
        Lexer { text, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        self.text.get(self.pos..).unwrap_or_default()
    }

    fn peek_char(&self) -> Option<char> {
        self.rest().chars().next()
    }

    /// Consumes and returns the next token (`End` once the text is exhausted).
    pub fn next_token(&mut self) -> Result<Token<'a>, SyntaxError> {
        while let Some(c) = self.peek_char().filter(|&c| is_space(c)) {
            self.pos += c.len_utf8();
        }
        let start = self.pos;
        let Some(c) = self.peek_char() else {
            return Ok(Token {
                kind: TokenKind::End,
                start,
            });
        };
        let punct = match c {
            '(' => Some(TokenKind::LParen),
            ')' => Some(TokenKind::RParen),
            '[' => Some(TokenKind::LBracket),
            ']' => Some(TokenKind::RBracket),
            '.' => Some(TokenKind::Dot),
            _ => None,
        };
        let kind = if let Some(kind) = punct {
            self.pos += 1;
            kind
        } else if c == '"' {
            TokenKind::Str(self.string()?)
        } else if c == '-' || c.is_ascii_digit() {
            TokenKind::Number(self.number()?)
        } else if starts_word(c) {
            let len = self
                .rest()
                .find(|c: char| !continues_word(c))
                .unwrap_or(self.rest().len());
            let word = self.text.get(start..start + len).unwrap_or_default();
            self.pos += len;
            TokenKind::Word(word)
        } else {
            return Err(SyntaxError::new(
                start,
                format!("unexpected character {}", describe_char(c)),
            ));
        };
        Ok(Token { kind, start })
    }

    /// Lexes a JSON string starting at the opening quote.
    fn string(&mut self) -> Result<String, SyntaxError> {
        let open = self.pos;
        self.pos += 1;
        let mut out = String::new();
        loop {
            let rest = self.rest();
            // Copy the run of plain characters in one go.
            let plain = rest
                .find(|c: char| c == '"' || c == '\\' || c < ' ')
                .ok_or_else(|| {
                    SyntaxError::new(open, "unterminated string: missing the closing '\"'")
                })?;
            out.push_str(rest.get(..plain).unwrap_or_default());
            self.pos += plain;
            let at = self.pos;
            match self.peek_char() {
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') => {
                    self.pos += 1;
                    out.push(self.escape(at)?);
                }
                Some(c) => {
                    return Err(SyntaxError::new(
                        at,
                        format!(
                            "control character {} must be escaped inside a string",
                            describe_char(c)
                        ),
                    ));
                }
                None => {
                    return Err(SyntaxError::new(
                        open,
                        "unterminated string: missing the closing '\"'",
                    ));
                }
            }
        }
    }

    /// Lexes the escape after a backslash at byte `at`.
    fn escape(&mut self, at: usize) -> Result<char, SyntaxError> {
        let Some(c) = self.peek_char() else {
            return Err(SyntaxError::new(
                at,
                "unterminated string: it ends with a '\\'",
            ));
        };
        self.pos += c.len_utf8();
        Ok(match c {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => return self.unicode_escape(at),
            other => {
                return Err(SyntaxError::new(
                    at,
                    format!(
                        "invalid escape '\\{}' in a string (valid: \\\" \\\\ \\/ \\b \\f \\n \\r \\t \\uXXXX)",
                        other.escape_debug()
                    ),
                ));
            }
        })
    }

    /// Four hex digits after `\u`; a high surrogate must be followed by `\u` and a low one.
    fn unicode_escape(&mut self, at: usize) -> Result<char, SyntaxError> {
        let hi = self.hex4(at)?;
        let code = match hi {
            0xD800..=0xDBFF => {
                let rest = self.rest();
                if !rest.starts_with("\\u") {
                    return Err(SyntaxError::new(
                        at,
                        format!(
                            "invalid escape '\\u{hi:04X}': a high surrogate must be followed by a '\\u' low surrogate"
                        ),
                    ));
                }
                let second = self.pos;
                self.pos += 2;
                let lo = self.hex4(second)?;
                if !(0xDC00..=0xDFFF).contains(&lo) {
                    return Err(SyntaxError::new(
                        second,
                        format!(
                            "invalid escape '\\u{lo:04X}': expected a low surrogate (DC00-DFFF) after '\\u{hi:04X}'"
                        ),
                    ));
                }
                0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
            }
            0xDC00..=0xDFFF => {
                return Err(SyntaxError::new(
                    at,
                    format!(
                        "invalid escape '\\u{hi:04X}': a low surrogate without a high surrogate before it"
                    ),
                ));
            }
            other => other,
        };
        char::from_u32(code).ok_or_else(|| {
            SyntaxError::new(at, format!("invalid escape: U+{code:X} is not a character"))
        })
    }

    fn hex4(&mut self, at: usize) -> Result<u32, SyntaxError> {
        let digits = self
            .rest()
            .get(..4)
            .filter(|d| d.bytes().all(|b| b.is_ascii_hexdigit()));
        let Some(digits) = digits else {
            return Err(SyntaxError::new(
                at,
                "invalid escape: '\\u' must be followed by four hex digits",
            ));
        };
        self.pos += 4;
        u32::from_str_radix(digits, 16).map_err(|_| {
            SyntaxError::new(
                at,
                "invalid escape: '\\u' must be followed by four hex digits",
            )
        })
    }

    /// Lexes a JSON number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Result<Number, SyntaxError> {
        let start = self.pos;
        let bytes = self.text.as_bytes();
        let digits = |mut i: usize| {
            while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            i
        };
        let mut i = start;
        if bytes.get(i) == Some(&b'-') {
            i += 1;
        }
        let int_start = i;
        let int_end = digits(i);
        if int_end == int_start {
            return Err(self.bad_number(start, "expected a digit after '-'"));
        }
        if bytes.get(int_start) == Some(&b'0') && int_end > int_start + 1 {
            return Err(self.bad_number(start, "leading zeros are not allowed"));
        }
        i = int_end;
        let mut integral = true;
        if bytes.get(i) == Some(&b'.') {
            let end = digits(i + 1);
            if end == i + 1 {
                return Err(self.bad_number(start, "expected a digit after '.'"));
            }
            integral = false;
            i = end;
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(bytes.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let end = digits(i);
            if end == i {
                return Err(self.bad_number(start, "expected a digit in the exponent"));
            }
            integral = false;
            i = end;
        }
        if self
            .text
            .get(i..)
            .and_then(|r| r.chars().next())
            .is_some_and(|c| continues_word(c) || c == '+')
        {
            return Err(self.bad_number(start, "a number must be followed by a space, ')' or ']'"));
        }
        let text = self.text.get(start..i).unwrap_or_default();
        self.pos = i;
        if integral {
            let n = if text.starts_with('-') {
                text.parse::<i64>().ok().map(Number::from)
            } else {
                text.parse::<u64>().ok().map(Number::from)
            };
            if let Some(n) = n {
                return Ok(n);
            }
        }
        // Rust's float parsing is exact, and serde_json prints floats with the shortest
        // text that reads back to the same value, so numbers survive a round trip.
        text.parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .ok_or_else(|| {
                SyntaxError::new(
                    start,
                    format!("the number {} is out of range", crate::Sent(text)),
                )
            })
    }

    fn bad_number(&self, start: usize, why: &str) -> SyntaxError {
        let rest = self.text.get(start..).unwrap_or_default();
        let len = rest
            .char_indices()
            .skip(1)
            .find(|&(_, c)| !(continues_word(c) || c == '+'))
            .map_or(rest.len(), |(i, _)| i);
        let shown = truncate(rest.get(..len).unwrap_or_default(), 40);
        SyntaxError::new(
            start,
            format!("invalid number '{}': {why}", crate::Sent(shown)),
        )
    }
}

/// A character as shown in an error message.
pub(crate) fn describe_char(c: char) -> String {
    if c.is_control() || c.is_whitespace() {
        format!("U+{:04X}", u32::from(c))
    } else {
        format!("'{c}'")
    }
}

/// `s` shortened to at most `max` characters, with an ellipsis when cut.
pub(crate) fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", s.get(..i).unwrap_or_default()),
        None => s.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex(text: &str) -> Result<Vec<TokenKind<'_>>, SyntaxError> {
        let mut lexer = Lexer::new(text);
        let mut out = Vec::new();
        loop {
            let t = lexer.next_token()?;
            if t.kind == TokenKind::End {
                return Ok(out);
            }
            out.push(t.kind);
        }
    }

    fn s(text: &str) -> TokenKind<'static> {
        TokenKind::Str(text.to_string())
    }

    #[test]
    fn words_keep_urns_dots_and_dollar_ref() {
        assert_eq!(
            lex("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value members.$ref").unwrap(),
            vec![
                TokenKind::Word(
                    "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value"
                ),
                TokenKind::Word("members.$ref"),
            ]
        );
        assert_eq!(
            lex("emails[type eq \"work\"].value").unwrap(),
            vec![
                TokenKind::Word("emails"),
                TokenKind::LBracket,
                TokenKind::Word("type"),
                TokenKind::Word("eq"),
                s("work"),
                TokenKind::RBracket,
                TokenKind::Dot,
                TokenKind::Word("value"),
            ]
        );
    }

    #[test]
    fn json_string_escapes() {
        assert_eq!(
            lex(r#""a\"b\\c\/d\b\f\n\r\t\u00e9\uD83D\uDE00""#).unwrap(),
            vec![s("a\"b\\c/d\u{8}\u{c}\n\r\té😀")]
        );
        assert_eq!(lex(r#""""#).unwrap(), vec![s("")]);
        assert_eq!(lex("\"é😀\"").unwrap(), vec![s("é😀")]);
    }

    #[test]
    fn bad_strings_are_errors_at_the_right_offset() {
        let e = lex(r#"x "abc"#).unwrap_err();
        assert_eq!(e.at, 2);
        assert!(e.message.contains("unterminated"), "{}", e.message);
        let e = lex(r#""ab\x""#).unwrap_err();
        assert_eq!(e.at, 3);
        assert!(e.message.contains("invalid escape '\\x'"), "{}", e.message);
        let e = lex(r#""\uD800""#).unwrap_err();
        assert!(e.message.contains("high surrogate"), "{}", e.message);
        let e = lex(r#""\uD800\u0041""#).unwrap_err();
        assert!(e.message.contains("low surrogate"), "{}", e.message);
        let e = lex(r#""\uDC00""#).unwrap_err();
        assert!(
            e.message.contains("without a high surrogate"),
            "{}",
            e.message
        );
        let e = lex(r#""\u12""#).unwrap_err();
        assert!(e.message.contains("four hex digits"), "{}", e.message);
        let e = lex("\"a\nb\"").unwrap_err();
        assert_eq!(e.at, 2);
        assert!(e.message.contains("U+000A"), "{}", e.message);
        assert!(lex("\"\\").is_err());
        assert!(lex("\"\\u").is_err());
    }

    #[test]
    fn json_numbers() {
        let n = |t: &str| match lex(t).unwrap().as_slice() {
            [TokenKind::Number(n)] => n.to_string(),
            other => panic!("{other:?}"),
        };
        assert_eq!(n("0"), "0");
        assert_eq!(n("-0"), "0");
        assert_eq!(n("42"), "42");
        assert_eq!(n("-42"), "-42");
        assert_eq!(n("1.5"), "1.5");
        assert_eq!(n("1e3"), "1000.0");
        assert_eq!(n("2.5E-3"), "0.0025");
        assert_eq!(n("18446744073709551615"), "18446744073709551615");
        assert_eq!(n("18446744073709551616"), "1.8446744073709552e+19");
        for bad in [
            "-", "01", "1.", "1e", "1e+", "1.2.3", "5abc", "1e400", "-x", "1+2",
        ] {
            assert!(lex(bad).is_err(), "{bad}");
        }
        assert!(lex("1e400").unwrap_err().message.contains("out of range"));
        assert!(lex("01").unwrap_err().message.contains("leading zeros"));
    }

    #[test]
    fn unexpected_characters() {
        let e = lex("a & b").unwrap_err();
        assert_eq!(e.at, 2);
        assert_eq!(e.message, "unexpected character '&'");
        let e = lex("a \u{0} b").unwrap_err();
        assert_eq!(e.message, "unexpected character U+0000");
        assert!(lex("a\t\r\n b").is_ok());
    }
}
