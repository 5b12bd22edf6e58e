//! Recursive-descent parser for RFC 7644 §3.4.2.2 filters.
//!
//! Grammar (`not` binds tighter than `and`, `and` tighter than `or`; `and` and `or`
//! associate to the left):
//!
//! ```text
//! filter   = or
//! or       = and *("or" and)
//! and      = unary *("and" unary)
//! unary    = "not" "(" or ")" / "(" or ")" / attrExp
//! attrExp  = attrPath "pr"
//!          / attrPath compareOp compValue
//!          / attrPath "[" or "]" ["." ATTRNAME ("pr" / compareOp compValue)]
//! ```
//!
//! The last alternative's tail is the Microsoft Entra ID form
//! `emails[type eq "work"].value eq "x"`, desugared to
//! `emails[type eq "work" and value eq "x"]`. Inside `[…]`, paths name sub-attributes:
//! they may not be URN-qualified, and `[` may not nest.
//!
//! Recursion happens only at `(`, `not (` and `[`, and the depth limit is checked before
//! each; `and`/`or` chains are loops. Every token is read once, so parsing is linear.

use crate::Sent;
use crate::error::{ScimError, ScimResult};
use crate::path::AttrPath;

use super::ast::{CompValue, CompareOp, Filter};
use super::lexer::{Lexer, SyntaxError, Token, TokenKind, truncate};

/// Bounds that keep a hostile filter cheap to reject.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilterLimits {
    /// The longest accepted filter, in characters.
    pub max_length: usize,
    /// How deeply `(…)`, `not (…)` and `[…]` may nest.
    pub max_depth: usize,
    /// The most nodes (comparisons, `pr` tests, `and`, `or`, `not`, value paths) a filter
    /// may have. It also bounds the depth of the tree, since `a or b or c …` is left-deep.
    pub max_nodes: usize,
}

impl Default for FilterLimits {
    /// 8192 characters, 32 levels of nesting, 512 nodes.
    fn default() -> Self {
        FilterLimits {
            max_length: 8192,
            max_depth: 32,
            max_nodes: 512,
        }
    }
}

/// The operators, as listed in error messages.
const OPERATORS: &str = "eq, ne, co, sw, ew, gt, ge, lt, le, pr";

/// Parses a filter with the default [`FilterLimits`].
///
/// Errors are `400 invalidFilter` whose detail names the 1-based character position and
/// what was expected there, e.g.
/// `invalid filter at position 10: expected a comparison operator (…), found 'equals'`.
pub fn parse_filter(text: &str) -> ScimResult<Filter> {
    parse_filter_with(text, &FilterLimits::default())
}

/// Parses a filter within the given limits.
pub fn parse_filter_with(text: &str, limits: &FilterLimits) -> ScimResult<Filter> {
    check_length(text, limits)?;
    let mut p = Parser::new(text, limits);
    p.top_level(None).map_err(|e| to_scim_error(text, &e))
}

/// Parses the text between the brackets of a value path (`type eq "work" and value co
/// "@"`): paths name sub-attributes, so they may not be URN-qualified and `[` may not
/// appear. Use it for PATCH paths such as `members[value eq "2819c223"]`, then resolve
/// the result with [`super::resolve_element_filter`].
pub fn parse_element_filter(text: &str) -> ScimResult<Filter> {
    let limits = FilterLimits::default();
    check_length(text, &limits)?;
    let mut p = Parser::new(text, &limits);
    let outer = AttrPath::simple("");
    p.top_level(Some(&outer))
        .map_err(|e| to_scim_error(text, &e))
}

fn check_length(text: &str, limits: &FilterLimits) -> ScimResult<()> {
    // Cheap byte test first: a char is at most 4 bytes.
    if text.len() > limits.max_length && text.chars().count() > limits.max_length {
        return Err(ScimError::invalid_filter(format!(
            "invalid filter: it is longer than the maximum of {} characters",
            limits.max_length
        )));
    }
    Ok(())
}

/// The SCIM error for a syntax error, with its 1-based character position.
fn to_scim_error(text: &str, e: &SyntaxError) -> ScimError {
    let position = text
        .get(..e.at)
        .map_or_else(|| text.chars().count(), |s| s.chars().count())
        + 1;
    ScimError::invalid_filter(format!(
        "invalid filter at position {position}: {}",
        e.message
    ))
}

type PResult<T> = Result<T, SyntaxError>;

struct Parser<'a> {
    text: &'a str,
    lexer: Lexer<'a>,
    peeked: Option<Token<'a>>,
    limits: FilterLimits,
    depth: usize,
    nodes: usize,
}

/// How a token is described in "found …".
fn found(t: &Token<'_>) -> String {
    match &t.kind {
        TokenKind::Word(w) => format!("'{}'", Sent(truncate(w, 40))),
        TokenKind::Str(s) => format!("the string \"{}\"", Sent(truncate(s, 40).escape_debug())),
        TokenKind::Number(n) => format!("the number {}", Sent(n)),
        TokenKind::LParen => "'('".into(),
        TokenKind::RParen => "')'".into(),
        TokenKind::LBracket => "'['".into(),
        TokenKind::RBracket => "']'".into(),
        TokenKind::Dot => "'.'".into(),
        TokenKind::End => "end of input".into(),
    }
}

fn compare_op(word: &str) -> Option<CompareOp> {
    const OPS: [(&str, CompareOp); 9] = [
        ("eq", CompareOp::Eq),
        ("ne", CompareOp::Ne),
        ("co", CompareOp::Co),
        ("sw", CompareOp::Sw),
        ("ew", CompareOp::Ew),
        ("gt", CompareOp::Gt),
        ("ge", CompareOp::Ge),
        ("lt", CompareOp::Lt),
        ("le", CompareOp::Le),
    ];
    OPS.iter()
        .find(|(name, _)| word.eq_ignore_ascii_case(name))
        .map(|&(_, op)| op)
}

fn is_keyword(t: &Token<'_>, keyword: &str) -> bool {
    matches!(t.kind, TokenKind::Word(w) if w.eq_ignore_ascii_case(keyword))
}

/// What a leaf after an attribute path turned out to be.
enum Leaf {
    Present,
    Compare(CompareOp, CompValue),
}

impl<'a> Parser<'a> {
    fn new(text: &'a str, limits: &FilterLimits) -> Self {
        Parser {
            text,
            lexer: Lexer::new(text),
            peeked: None,
            limits: *limits,
            depth: 0,
            nodes: 0,
        }
    }

    fn peek(&mut self) -> PResult<&Token<'a>> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lexer.next_token()?);
        }
        match &self.peeked {
            Some(t) => Ok(t),
            None => Err(SyntaxError::new(self.text.len(), "internal parser error")),
        }
    }

    fn bump(&mut self) -> PResult<Token<'a>> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lexer.next_token(),
        }
    }

    fn position(&self, byte: usize) -> usize {
        self.text.get(..byte).map_or(0, |s| s.chars().count()) + 1
    }

    /// Counts one more node of the tree.
    fn node(&mut self, at: usize) -> PResult<()> {
        self.nodes += 1;
        if self.nodes > self.limits.max_nodes {
            return Err(SyntaxError::new(
                at,
                format!(
                    "the filter has more than {} expressions, the maximum",
                    self.limits.max_nodes
                ),
            ));
        }
        Ok(())
    }

    /// Enters one level of `(`, `not (` or `[`, before recursing into it.
    fn enter(&mut self, at: usize) -> PResult<()> {
        if self.depth >= self.limits.max_depth {
            return Err(SyntaxError::new(
                at,
                format!(
                    "the filter nests '(', 'not (' and '[' more than {} levels deep, the maximum",
                    self.limits.max_depth
                ),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    /// A whole filter followed by the end of the text.
    fn top_level(&mut self, outer: Option<&AttrPath>) -> PResult<Filter> {
        let f = self.or(outer)?;
        let t = self.bump()?;
        if t.kind != TokenKind::End {
            let what = match t.kind {
                TokenKind::RParen => "there is no '(' to match this ')'".to_string(),
                TokenKind::RBracket => "there is no '[' to match this ']'".to_string(),
                _ => format!(
                    "expected 'and', 'or' or the end of the filter, found {}",
                    found(&t)
                ),
            };
            return Err(SyntaxError::new(t.start, what));
        }
        Ok(f)
    }

    fn or(&mut self, outer: Option<&AttrPath>) -> PResult<Filter> {
        let mut left = self.and(outer)?;
        while is_keyword(self.peek()?, "or") {
            let t = self.bump()?;
            let right = self.and(outer)?;
            self.node(t.start)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self, outer: Option<&AttrPath>) -> PResult<Filter> {
        let mut left = self.unary(outer)?;
        while is_keyword(self.peek()?, "and") {
            let t = self.bump()?;
            let right = self.unary(outer)?;
            self.node(t.start)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, outer: Option<&AttrPath>) -> PResult<Filter> {
        let t = self.bump()?;
        match t.kind {
            TokenKind::LParen => self.group(t.start, outer),
            TokenKind::Word(w) if w.eq_ignore_ascii_case("not") => {
                let next = self.peek()?;
                match &next.kind {
                    TokenKind::LParen => {
                        let open = self.bump()?;
                        self.node(t.start)?;
                        let inner = self.group(open.start, outer)?;
                        Ok(Filter::Not(Box::new(inner)))
                    }
                    // An attribute that happens to be called "not": `not pr`, `not eq 1`.
                    TokenKind::LBracket => self.attr_exp(w, t.start, outer),
                    TokenKind::Word(op)
                        if op.eq_ignore_ascii_case("pr") || compare_op(op).is_some() =>
                    {
                        self.attr_exp(w, t.start, outer)
                    }
                    _ => Err(SyntaxError::new(
                        next.start,
                        format!(
                            "expected '(' after 'not' (write not (…)), found {}",
                            found(next)
                        ),
                    )),
                }
            }
            TokenKind::Word(w) => self.attr_exp(w, t.start, outer),
            _ => Err(SyntaxError::new(
                t.start,
                format!(
                    "expected an attribute path, '(' or 'not', found {}",
                    found(&t)
                ),
            )),
        }
    }

    /// The inside of `( … )`, the `(` at byte `open` already consumed.
    fn group(&mut self, open: usize, outer: Option<&AttrPath>) -> PResult<Filter> {
        self.enter(open)?;
        let inner = self.or(outer)?;
        let close = self.bump()?;
        if close.kind != TokenKind::RParen {
            return Err(SyntaxError::new(
                close.start,
                format!(
                    "expected 'and', 'or' or ')' to close the '(' at position {}, found {}",
                    self.position(open),
                    found(&close)
                ),
            ));
        }
        self.leave();
        Ok(inner)
    }

    fn path(&self, word: &str, at: usize, outer: Option<&AttrPath>) -> PResult<AttrPath> {
        let path = AttrPath::parse(word)
            .map_err(|e| SyntaxError::new(at, format!("invalid attribute path: {}", e.marked())))?;
        if let (Some(outer), Some(_)) = (outer, &path.schema) {
            return Err(SyntaxError::new(
                at,
                format!(
                    "inside '[…]' a path names a sub-attribute{}, so it cannot be URN-qualified; found '{}'",
                    of_outer(outer),
                    Sent(truncate(word, 80))
                ),
            ));
        }
        Ok(path)
    }

    /// An attribute expression starting with the path `word` at byte `at`.
    fn attr_exp(&mut self, word: &str, at: usize, outer: Option<&AttrPath>) -> PResult<Filter> {
        let path = self.path(word, at, outer)?;
        let next = self.peek()?;
        if next.kind == TokenKind::LBracket {
            let open = next.start;
            if let Some(outer) = outer {
                return Err(SyntaxError::new(
                    open,
                    format!(
                        "value filters cannot be nested: '[' inside the '[…]'{}",
                        of_outer(outer)
                    ),
                ));
            }
            self.bump()?;
            return self.value_path(path, at, open);
        }
        let leaf = self.leaf()?;
        self.node(at)?;
        Ok(match leaf {
            Leaf::Present => Filter::Present(path),
            Leaf::Compare(op, value) => Filter::Compare { path, op, value },
        })
    }

    /// `attr[ … ]` with an optional Entra-style `.sub op value` tail; the `[` at byte `open`
    /// is consumed.
    fn value_path(&mut self, attr: AttrPath, at: usize, open: usize) -> PResult<Filter> {
        self.enter(open)?;
        self.node(at)?;
        let inner = self.or(Some(&attr))?;
        let close = self.bump()?;
        if close.kind != TokenKind::RBracket {
            return Err(SyntaxError::new(
                close.start,
                format!(
                    "expected 'and', 'or' or ']' to close the '[' at position {}, found {}",
                    self.position(open),
                    found(&close)
                ),
            ));
        }
        self.leave();
        let filter = if self.peek()?.kind == TokenKind::Dot {
            self.bump()?;
            let t = self.bump()?;
            let sub = match t.kind {
                TokenKind::Word(w) if crate::path::is_attr_name(w) => w,
                _ => {
                    return Err(SyntaxError::new(
                        t.start,
                        format!(
                            "expected a sub-attribute name after '].', found {}",
                            found(&t)
                        ),
                    ));
                }
            };
            let leaf = self.leaf()?;
            self.node(t.start)?;
            self.node(t.start)?;
            let path = AttrPath::simple(sub);
            let tail = match leaf {
                Leaf::Present => Filter::Present(path),
                Leaf::Compare(op, value) => Filter::Compare { path, op, value },
            };
            Filter::And(Box::new(inner), Box::new(tail))
        } else {
            inner
        };
        Ok(Filter::ValuePath {
            attr,
            filter: Box::new(filter),
        })
    }

    /// `pr`, or an operator and a value.
    fn leaf(&mut self) -> PResult<Leaf> {
        let t = self.bump()?;
        let op = match t.kind {
            TokenKind::Word(w) if w.eq_ignore_ascii_case("pr") => return Ok(Leaf::Present),
            TokenKind::Word(w) => compare_op(w),
            _ => None,
        };
        let Some(op) = op else {
            return Err(SyntaxError::new(
                t.start,
                format!(
                    "expected a comparison operator ({OPERATORS}), found {}",
                    found(&t)
                ),
            ));
        };
        let v = self.bump()?;
        let value = match v.kind {
            TokenKind::Str(s) => CompValue::String(s),
            TokenKind::Number(n) => CompValue::Number(n),
            TokenKind::Word(w) if w.eq_ignore_ascii_case("true") => CompValue::Bool(true),
            TokenKind::Word(w) if w.eq_ignore_ascii_case("false") => CompValue::Bool(false),
            TokenKind::Word(w) if w.eq_ignore_ascii_case("null") => CompValue::Null,
            TokenKind::Word(_) => {
                return Err(SyntaxError::new(
                    v.start,
                    format!(
                        "expected a value after '{}' (a string in double quotes, a number, true, false or null), found {} (strings need double quotes)",
                        op.as_str(),
                        found(&v)
                    ),
                ));
            }
            _ => {
                return Err(SyntaxError::new(
                    v.start,
                    format!(
                        "expected a value after '{}' (a string in double quotes, a number, true, false or null), found {}",
                        op.as_str(),
                        found(&v)
                    ),
                ));
            }
        };
        Ok(Leaf::Compare(op, value))
    }
}

fn of_outer(outer: &AttrPath) -> String {
    if outer.attr.is_empty() {
        String::new()
    } else {
        format!(" of '{outer}'")
    }
}
