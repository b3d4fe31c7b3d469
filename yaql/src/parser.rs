//! A Pratt parser with yaql's operator table. From the loosest to the
//! tightest binding:
//!
//! | level | operators | associativity |
//! |---|---|---|
//! | 1 | `->` | right |
//! | 2 | `or` | left |
//! | 3 | `and` | left |
//! | 4 | `not` (prefix) | |
//! | 5 | `=`, `!=`, `<`, `<=`, `>`, `>=`, `in` | left |
//! | 6 | `+`, `-` | left |
//! | 7 | `*`, `/`, `mod` | left |
//! | 8 | `=~`, `!~` | left |
//! | 9 | `+`, `-` (prefix) | |
//! | 10 | `[ ]` (indexer) | left |
//! | 11 | `.`, `?.` | left |
//!
//! `=>` is no operator: it only pairs a name (or key, or condition) with a
//! value inside argument lists, `[]` and `{}`.

use crate::ast::{Arg, Expr, Kind};
use crate::error::{Error, Result};
use crate::lexer::{Tok, Token, tokenize};

/// The deepest nesting of brackets, calls and prefix operators accepted.
pub const MAX_NESTING: usize = 100;

/// The deepest syntax tree accepted: operands nested in operators, calls,
/// lists and dictionaries (`a.b.c` is 3 deep, `1 + 2 + 3` is 3 deep), so
/// that evaluating never recurses deeper than this.
pub const MAX_DEPTH: usize = 100;

pub(crate) fn parse(source: &str) -> Result<Expr> {
    let tokens = tokenize(source)?;
    let mut parser = Parser { tokens, at: 0, depth: 0 };
    let expr = parser.expression(0)?;
    let next = parser.peek();
    if next.kind != Tok::End {
        return Err(unexpected(next));
    }
    if let Some(column) = too_deep(&expr) {
        return Err(Error::SizeLimit {
            column,
            what: "the depth of the expression".into(),
            limit: MAX_DEPTH,
        });
    }
    Ok(expr)
}

fn push_args<'a>(args: &'a [Arg], depth: usize, stack: &mut Vec<(&'a Expr, usize)>) {
    for arg in args {
        match arg {
            Arg::Pos(e) => stack.push((e, depth + 1)),
            Arg::Pair(k, v) => {
                stack.push((k, depth + 1));
                stack.push((v, depth + 1));
            }
        }
    }
}

/// The column of a node deeper than [`MAX_DEPTH`], if any (walked without
/// recursion).
fn too_deep(root: &Expr) -> Option<usize> {
    let mut stack = vec![(root, 1usize)];
    while let Some((expr, depth)) = stack.pop() {
        if depth > MAX_DEPTH {
            return Some(expr.column);
        }
        match &expr.kind {
            Kind::Literal(_) | Kind::Keyword(_) | Kind::Var(_) | Kind::Skipped => {}
            Kind::List(args) | Kind::Map(args) | Kind::Call { args, .. } => {
                push_args(args, depth, &mut stack)
            }
            Kind::Method { receiver, args, .. } | Kind::Index { receiver, args } => {
                stack.push((receiver, depth + 1));
                push_args(args, depth, &mut stack);
            }
            Kind::Attr { receiver, .. } => stack.push((receiver, depth + 1)),
            Kind::Binary { left, right, .. } => {
                stack.push((left, depth + 1));
                stack.push((right, depth + 1));
            }
            Kind::Unary { operand, .. } => stack.push((operand, depth + 1)),
        }
    }
    None
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
    depth: usize,
}

fn describe(tok: &Tok) -> String {
    match tok {
        Tok::Literal(value) => format!("`{value}`"),
        Tok::Keyword(name) => format!("`{name}`"),
        Tok::Func(name) => format!("`{name}(`"),
        Tok::Dollar(name) => format!("`${name}`"),
        Tok::Op(op) => format!("`{op}`"),
        Tok::LParen => "`(`".into(),
        Tok::RParen => "`)`".into(),
        Tok::LBracket => "`[`".into(),
        Tok::RBracket => "`]`".into(),
        Tok::LBrace => "`{`".into(),
        Tok::RBrace => "`}`".into(),
        Tok::Comma => "`,`".into(),
        Tok::End => "end of the expression".into(),
    }
}

fn unexpected(token: &Token) -> Error {
    Error::Syntax { column: token.column, message: format!("unexpected {}", describe(&token.kind)) }
}

/// Left and right binding powers of an infix operator.
fn infix_power(tok: &Tok) -> Option<(u8, u8)> {
    let level = match tok {
        Tok::Op("->") => return Some((2, 2)),
        Tok::Op("or") => 2,
        Tok::Op("and") => 3,
        Tok::Op("=" | "!=" | "<" | "<=" | ">" | ">=" | "in") => 5,
        Tok::Op("+" | "-") => 6,
        Tok::Op("*" | "/" | "mod") => 7,
        Tok::Op("=~" | "!~") => 8,
        Tok::LBracket => 10,
        Tok::Op("." | "?.") => 11,
        _ => return None,
    };
    Some((level * 2, level * 2 + 1))
}

impl Parser {
    fn peek(&self) -> &Token {
        // The token list always ends with `End`, and `at` never passes it.
        &self.tokens[self.at.min(self.tokens.len() - 1)]
    }

    fn next(&mut self) -> Token {
        let token = self.peek().clone();
        if self.at < self.tokens.len() - 1 {
            self.at += 1;
        }
        token
    }

    fn enter(&mut self, column: usize) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_NESTING {
            return Err(Error::SizeLimit {
                column,
                what: "the nesting of the expression".into(),
                limit: MAX_NESTING,
            });
        }
        Ok(())
    }

    fn expression(&mut self, min_power: u8) -> Result<Expr> {
        let start = self.peek().column;
        self.enter(start)?;
        let mut left = self.prefix()?;
        loop {
            let token = self.peek().clone();
            let Some((left_power, right_power)) = infix_power(&token.kind) else { break };
            if left_power < min_power {
                break;
            }
            self.next();
            left = match token.kind {
                Tok::LBracket => {
                    let args = self.arguments(Tok::RBracket)?;
                    Expr {
                        kind: Kind::Index { receiver: Box::new(left), args },
                        column: token.column,
                    }
                }
                Tok::Op(op @ ("." | "?.")) => {
                    let safe = op == "?.";
                    let right = self.prefix()?;
                    let receiver = Box::new(left);
                    let kind = match right.kind {
                        Kind::Keyword(name) => Kind::Attr { receiver, name, safe },
                        Kind::Call { name, args } => Kind::Method { receiver, name, args, safe },
                        _ => {
                            return Err(Error::Syntax {
                                column: right.column,
                                message: format!("expected a name or a method call after `{op}`"),
                            });
                        }
                    };
                    Expr { kind, column: token.column }
                }
                Tok::Op(op) => {
                    let right = self.expression(right_power)?;
                    Expr {
                        kind: Kind::Binary { op, left: Box::new(left), right: Box::new(right) },
                        column: token.column,
                    }
                }
                _ => return Err(unexpected(&token)),
            };
        }
        self.depth -= 1;
        Ok(left)
    }

    fn prefix(&mut self) -> Result<Expr> {
        let token = self.next();
        let column = token.column;
        let kind = match token.kind {
            Tok::Literal(value) => Kind::Literal(value),
            Tok::Keyword(name) => Kind::Keyword(name),
            Tok::Dollar(name) => Kind::Var(name),
            Tok::Func(name) => {
                self.enter(column)?;
                let args = self.arguments(Tok::RParen)?;
                self.depth -= 1;
                Kind::Call { name, args }
            }
            Tok::LParen => {
                let inner = self.expression(0)?;
                let close = self.next();
                if close.kind != Tok::RParen {
                    return Err(unexpected(&close));
                }
                return Ok(inner);
            }
            Tok::LBracket => Kind::List(self.arguments(Tok::RBracket)?),
            Tok::LBrace => Kind::Map(self.arguments(Tok::RBrace)?),
            Tok::Op(op @ ("-" | "+")) => {
                Kind::Unary { op, operand: Box::new(self.expression(9 * 2)?) }
            }
            Tok::Op("not") => Kind::Unary { op: "not", operand: Box::new(self.expression(4 * 2)?) },
            _ => return Err(unexpected(&token)),
        };
        Ok(Expr { kind, column })
    }

    /// Arguments up to `close`: positional ones first, then `a => b` pairs.
    fn arguments(&mut self, close: Tok) -> Result<Vec<Arg>> {
        let mut args = Vec::new();
        if self.peek().kind == close {
            self.next();
            return Ok(args);
        }
        let mut seen_pair = false;
        loop {
            // An empty argument before a comma is left out (`f(1,,3)`).
            if self.peek().kind == Tok::Comma && !seen_pair {
                let comma = self.next();
                args.push(Arg::Pos(Expr { kind: Kind::Skipped, column: comma.column }));
                if self.peek().kind == close {
                    return Err(unexpected(self.peek()));
                }
                continue;
            }
            let first = self.expression(0)?;
            if self.peek().kind == Tok::Op("=>") {
                self.next();
                let value = self.expression(0)?;
                seen_pair = true;
                args.push(Arg::Pair(first, value));
            } else if seen_pair {
                return Err(Error::Syntax {
                    column: first.column,
                    message: "a positional argument after `=>` arguments".into(),
                });
            } else {
                args.push(Arg::Pos(first));
            }
            let token = self.next();
            if token.kind == close {
                return Ok(args);
            }
            if token.kind != Tok::Comma {
                return Err(unexpected(&token));
            }
        }
    }
}
