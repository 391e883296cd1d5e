//! A tiny YAML document tree whose every node knows its line and column.
//!
//! Built from `yaml-rust2`'s event parser so that the config decoder can name
//! the exact line of every field, value and error. It owns nothing but the
//! syntax: no type coercion (every scalar stays text), no `${VAR}` handling.
//! Aliases are expanded (with a node budget against "billion laughs"),
//! tags are ignored, and nesting depth is bounded.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};
use zeroize::Zeroize;

/// Deepest nesting of mappings and sequences accepted.
const MAX_DEPTH: usize = 64;

/// Most nodes a document may expand to (aliases count every time they are used).
const MAX_NODES: usize = 100_000;

/// One YAML node with its position (1-based line and column).
#[derive(Debug, Clone)]
pub struct Node {
    /// What the node holds.
    pub value: Value,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
}

/// A null node, for sections that are absent altogether.
pub static NULL: Node = Node {
    value: Value::Scalar {
        text: String::new(),
        plain: true,
    },
    line: 0,
    col: 0,
};

/// The content of a node.
#[derive(Debug, Clone)]
pub enum Value {
    /// A scalar, as written (after YAML unescaping); `plain` is false for
    /// quoted and block scalars.
    Scalar {
        /// The text.
        text: String,
        /// Whether it was written unquoted.
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping: (key, value) pairs in document order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// Whether this is a YAML null (`~`, `null`, or nothing at all).
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// A short description of the node's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Scalar { .. } if self.is_null() => "nothing",
            Value::Scalar { .. } => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Drop for Node {
    /// Scalars may hold secrets (passwords, tokens): wipe them.
    fn drop(&mut self) {
        if let Value::Scalar { text, .. } = &mut self.value {
            text.zeroize();
        }
    }
}

/// A syntax or shape problem found while building the tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What is wrong.
    pub message: String,
}

impl SyntaxError {
    fn at(mark: Marker, message: impl Into<String>) -> Self {
        SyntaxError {
            line: mark.line(),
            col: mark.col() + 1,
            message: message.into(),
        }
    }
}

/// A collection being built.
enum Frame {
    Seq {
        node: Node,
        items: Vec<Node>,
        anchor: usize,
    },
    Map {
        node: Node,
        pairs: Vec<(Node, Node)>,
        key: Option<Node>,
        anchor: usize,
    },
}

/// Parses `text` as exactly one YAML document. Returns `Ok(None)` when the
/// stream holds no document at all (empty file or only comments).
pub fn parse(text: &str) -> Result<Option<Node>, SyntaxError> {
    let mut parser = Parser::new_from_str(text);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Node> = HashMap::new();
    let mut nodes = 0usize;
    let mut root: Option<Node> = None;
    let mut documents = 0usize;

    loop {
        let (event, mark) = parser
            .next_token()
            .map_err(|e| SyntaxError::at(*e.marker(), e.info().to_owned()))?;
        let complete: Option<(Node, usize)> = match event {
            Event::StreamEnd => break,
            Event::StreamStart | Event::Nothing | Event::DocumentEnd => None,
            Event::DocumentStart => {
                documents += 1;
                if documents > 1 {
                    return Err(SyntaxError::at(
                        mark,
                        "the file holds more than one YAML document",
                    ));
                }
                None
            }
            Event::Scalar(text, style, anchor, _tag) => {
                let plain = style == TScalarStyle::Plain;
                Some((node_at(mark, Value::Scalar { text, plain }), anchor))
            }
            Event::Alias(id) => {
                let Some(target) = anchors.get(&id) else {
                    return Err(SyntaxError::at(mark, "alias refers to an unknown anchor"));
                };
                nodes = nodes.saturating_add(count(target));
                if nodes > MAX_NODES {
                    return Err(SyntaxError::at(mark, "document expands to too many nodes"));
                }
                let mut copy = target.clone();
                copy.line = mark.line();
                copy.col = mark.col() + 1;
                Some((copy, 0))
            }
            Event::SequenceStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(SyntaxError::at(mark, "nesting too deep"));
                }
                stack.push(Frame::Seq {
                    node: node_at(mark, Value::Seq(Vec::new())),
                    items: Vec::new(),
                    anchor,
                });
                None
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(SyntaxError::at(mark, "nesting too deep"));
                }
                stack.push(Frame::Map {
                    node: node_at(mark, Value::Map(Vec::new())),
                    pairs: Vec::new(),
                    key: None,
                    anchor,
                });
                None
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq {
                    mut node,
                    items,
                    anchor,
                }) => {
                    node.value = Value::Seq(items);
                    Some((node, anchor))
                }
                _ => return Err(SyntaxError::at(mark, "unbalanced sequence end")),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map {
                    mut node,
                    pairs,
                    key: None,
                    anchor,
                }) => {
                    node.value = Value::Map(pairs);
                    Some((node, anchor))
                }
                _ => return Err(SyntaxError::at(mark, "unbalanced mapping end")),
            },
        };

        let Some((node, anchor)) = complete else {
            continue;
        };
        nodes = nodes.saturating_add(1);
        if nodes > MAX_NODES {
            return Err(SyntaxError::at(mark, "document has too many nodes"));
        }
        if anchor > 0 {
            anchors.insert(anchor, node.clone());
        }
        match stack.last_mut() {
            None => root = Some(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { pairs, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => pairs.push((k, node)),
            },
        }
    }
    Ok(root)
}

fn node_at(mark: Marker, value: Value) -> Node {
    Node {
        value,
        line: mark.line(),
        col: mark.col() + 1,
    }
}

/// Number of nodes in a subtree.
fn count(node: &Node) -> usize {
    match &node.value {
        Value::Scalar { .. } => 1,
        Value::Seq(items) => items.iter().fold(1usize, |n, i| n.saturating_add(count(i))),
        Value::Map(pairs) => pairs.iter().fold(1usize, |n, (k, v)| {
            n.saturating_add(count(k)).saturating_add(count(v))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(n: &Node) -> &str {
        match &n.value {
            Value::Scalar { text, .. } => text,
            _ => panic!("not a scalar: {n:?}"),
        }
    }

    #[test]
    fn nodes_know_their_lines() {
        let doc = parse("# c\na: 1\nb:\n  c: \"x\"\n  d: [1, 2]\n")
            .unwrap()
            .unwrap();
        let Value::Map(pairs) = &doc.value else {
            panic!("not a map")
        };
        assert_eq!(scalar(&pairs[0].0), "a");
        assert_eq!(pairs[0].0.line, 2);
        assert_eq!(pairs[1].0.line, 3);
        let Value::Map(inner) = &pairs[1].1.value else {
            panic!("not a map")
        };
        assert_eq!(inner[0].1.line, 4);
        assert_eq!(inner[0].1.col, 6);
        assert!(matches!(
            &inner[0].1.value,
            Value::Scalar { plain: false, .. }
        ));
        assert!(matches!(&inner[1].1.value, Value::Seq(v) if v.len() == 2));
    }

    #[test]
    fn empty_and_comment_only_streams_have_no_document() {
        assert!(parse("").unwrap().is_none());
        assert!(parse("# just a comment\n").unwrap().is_none());
    }

    #[test]
    fn two_documents_are_rejected() {
        let err = parse("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(
            err.message.contains("more than one YAML document"),
            "{err:?}"
        );
    }

    #[test]
    fn aliases_expand_within_budget() {
        let doc = parse("a: &x {k: v}\nb: *x\n").unwrap().unwrap();
        let Value::Map(pairs) = &doc.value else {
            panic!("not a map")
        };
        assert!(matches!(&pairs[1].1.value, Value::Map(m) if m.len() == 1));
        assert_eq!(pairs[1].1.line, 2);

        let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..12 {
            let p = i - 1;
            laughs.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let err = parse(&laughs).unwrap_err();
        assert!(err.message.contains("too many nodes"), "{err:?}");
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(10_000);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn syntax_errors_carry_a_line() {
        let err = parse("a: 1\nb: [1, 2\n").unwrap_err();
        assert!(err.line >= 2, "{err:?}");
    }
}
