//! Helpers that turn YAML tree nodes into typed values with precise errors:
//! mapping access that rejects unknown and duplicate fields, `${VAR}`
//! substitution (§9.2), and scalar conversions (strings, secrets, paths,
//! booleans, Go durations).
//!
//! Field paths are dotted (`keystore.vault.approle.id`), list items get an
//! index (`keys[2].name`).

use std::path::PathBuf;
use std::time::Duration;

use crate::yaml::{Node, Value};
use crate::{ConfigError, Secret, duration};

/// Decoding state: the file name for messages, the environment lookup and
/// the warnings collected so far.
pub struct Ctx<'a> {
    file: &'a str,
    env: &'a dyn Fn(&str) -> Option<String>,
    /// Deprecation and "has no effect" warnings, each
    /// `<file>:<line>: <field>: <message>`.
    pub warnings: Vec<String>,
}

impl<'a> Ctx<'a> {
    /// A context for the file named `file` (as given, for messages) whose
    /// `${VAR}` references are resolved by `env` (`None` = not set).
    pub fn new(file: &'a str, env: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Ctx {
            file,
            env,
            warnings: Vec::new(),
        }
    }

    /// The file name as given.
    pub fn file(&self) -> &'a str {
        self.file
    }

    /// An error about `field` at `line`.
    pub fn invalid(&self, line: usize, field: &str, message: impl Into<String>) -> ConfigError {
        let field = if field.is_empty() {
            "(top level)"
        } else {
            field
        };
        ConfigError::Invalid {
            file: self.file.to_owned(),
            line,
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// A whole-document shape error.
    pub fn syntax(&self, node: &Node, message: impl Into<String>) -> ConfigError {
        ConfigError::Syntax {
            file: self.file.to_owned(),
            line: node.line,
            col: node.col,
            message: message.into(),
        }
    }

    /// Records a warning about `field` at `line`.
    pub fn warn(&mut self, line: usize, field: &str, message: impl AsRef<str>) {
        let message = message.as_ref();
        self.warnings
            .push(format!("{}:{line}: {field}: {message}", self.file));
    }

    /// Opens `node` (found under `field`, introduced at `line`) as a
    /// mapping; a null node is an empty mapping.
    pub fn map<'n>(
        &self,
        node: &'n Node,
        field: &str,
        line: usize,
    ) -> Result<Fields<'n>, ConfigError> {
        let mut entries: Vec<Entry<'n>> = Vec::new();
        match &node.value {
            _ if node.is_null() => {}
            Value::Map(pairs) => {
                for (key, value) in pairs {
                    let Value::Scalar { text, .. } = &key.value else {
                        return Err(self.invalid(
                            key.line,
                            field,
                            format!("a field name must be plain text, got {}", key.kind()),
                        ));
                    };
                    if let Some(first) = entries.iter().find(|e| e.name == text.as_str()) {
                        return Err(self.invalid(
                            key.line,
                            &join(field, text),
                            format!(
                                "duplicate field '{text}' (first given in line {})",
                                first.key.line
                            ),
                        ));
                    }
                    entries.push(Entry {
                        name: text,
                        key,
                        value,
                        used: false,
                    });
                }
            }
            _ => {
                return Err(self.invalid(
                    node.line,
                    field,
                    format!("expected a mapping, got {}", node.kind()),
                ));
            }
        }
        Ok(Fields {
            field: field.to_owned(),
            line,
            entries,
            asked: Vec::new(),
        })
    }

    /// The items of a list; a null node is an empty list.
    pub fn list<'n>(&self, node: &'n Node, field: &str) -> Result<&'n [Node], ConfigError> {
        match &node.value {
            _ if node.is_null() => Ok(&[]),
            Value::Seq(items) => Ok(items),
            _ => Err(self.invalid(
                node.line,
                field,
                format!("expected a list, got {}", node.kind()),
            )),
        }
    }

    /// A scalar as written, without `${VAR}` substitution; null is "".
    pub fn raw_text(&self, node: &Node, field: &str) -> Result<String, ConfigError> {
        match &node.value {
            _ if node.is_null() => Ok(String::new()),
            Value::Scalar { text, .. } => Ok(text.clone()),
            _ => Err(self.invalid(
                node.line,
                field,
                format!("expected a single value, got {}", node.kind()),
            )),
        }
    }

    /// A scalar with `${VAR}` substitution (§9.2): when the whole trimmed
    /// scalar is `${NAME}` (spaces allowed inside), it is replaced by the
    /// variable's value; the variable must exist.
    pub fn text(&self, node: &Node, field: &str) -> Result<String, ConfigError> {
        let raw = self.raw_text(node, field)?;
        let Some(name) = env_reference(&raw) else {
            return Ok(raw);
        };
        (self.env)(name).ok_or_else(|| ConfigError::EnvNotFound {
            file: self.file.to_owned(),
            line: node.line,
            field: field.to_owned(),
            name: name.to_owned(),
        })
    }

    /// A secret string (env-capable). The value never appears in errors.
    pub fn secret(&self, node: &Node, field: &str) -> Result<Secret, ConfigError> {
        self.text(node, field).map(Secret::new)
    }

    /// An optional file path (env-capable); empty → `None`.
    pub fn path(&self, node: &Node, field: &str) -> Result<Option<PathBuf>, ConfigError> {
        let text = self.text(node, field)?;
        Ok((!text.is_empty()).then(|| PathBuf::from(text)))
    }

    /// A boolean (env-capable): Go's `strconv.ParseBool` spellings plus
    /// `yes`/`no`/`on`/`off`; null is false.
    pub fn boolean(&self, node: &Node, field: &str) -> Result<bool, ConfigError> {
        let text = self.text(node, field)?;
        match text.trim().to_ascii_lowercase().as_str() {
            "" | "0" | "f" | "false" | "no" | "off" => Ok(false),
            "1" | "t" | "true" | "yes" | "on" => Ok(true),
            _ => Err(self.invalid(
                node.line,
                field,
                format!("invalid boolean '{text}' (want true or false)"),
            )),
        }
    }

    /// A Go duration (env-capable) in signed nanoseconds; null is zero.
    pub fn signed_duration(&self, node: &Node, field: &str) -> Result<(i128, String), ConfigError> {
        let text = self.text(node, field)?;
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return Ok((0, text));
        }
        let nanos = duration::parse(trimmed).map_err(|why| self.invalid(node.line, field, why))?;
        Ok((nanos, text))
    }

    /// A non-negative Go duration; a negative one yields `negative(text)`
    /// as the error message.
    pub fn duration(
        &self,
        node: &Node,
        field: &str,
        negative: impl FnOnce(&str) -> String,
    ) -> Result<Duration, ConfigError> {
        let (nanos, text) = self.signed_duration(node, field)?;
        if nanos < 0 {
            return Err(self.invalid(node.line, field, negative(text.trim())));
        }
        let nanos = u64::try_from(nanos).map_err(|_| {
            self.invalid(node.line, field, format!("duration '{text}' out of range"))
        })?;
        Ok(Duration::from_nanos(nanos))
    }
}

/// The variable name if `raw` (trimmed) is exactly `${NAME}`.
fn env_reference(raw: &str) -> Option<&str> {
    raw.trim()
        .strip_prefix("${")?
        .strip_suffix('}')
        .map(str::trim)
}

/// `parent.child`, or `child` at the top level.
pub fn join(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_owned()
    } else {
        format!("{parent}.{child}")
    }
}

/// `field[index]`.
pub fn index(field: &str, i: usize) -> String {
    format!("{field}[{i}]")
}

struct Entry<'n> {
    name: &'n str,
    key: &'n Node,
    value: &'n Node,
    used: bool,
}

/// The fields of one mapping. Every field must be taken by the decoder;
/// [`Fields::finish`] reports the first one that was not as unknown.
pub struct Fields<'n> {
    field: String,
    line: usize,
    entries: Vec<Entry<'n>>,
    asked: Vec<&'static str>,
}

impl<'n> Fields<'n> {
    /// The path of this mapping.
    pub fn path(&self) -> &str {
        &self.field
    }

    /// The line that introduced this mapping (for "missing field" errors).
    pub fn line(&self) -> usize {
        self.line
    }

    /// The path of a child field.
    pub fn child(&self, name: &str) -> String {
        join(&self.field, name)
    }

    /// Takes field `name`: its key node (for the line) and value node.
    pub fn take_entry(&mut self, name: &'static str) -> Option<(&'n Node, &'n Node)> {
        self.asked.push(name);
        let entry = self.entries.iter_mut().find(|e| e.name == name)?;
        entry.used = true;
        Some((entry.key, entry.value))
    }

    /// Takes field `name`'s value node.
    pub fn take(&mut self, name: &'static str) -> Option<&'n Node> {
        self.take_entry(name).map(|(_, v)| v)
    }

    /// Takes field `name` as a nested mapping (absent or null → `None`).
    pub fn take_map(
        &mut self,
        ctx: &Ctx<'_>,
        name: &'static str,
    ) -> Result<Option<Fields<'n>>, ConfigError> {
        match self.take_entry(name) {
            None => Ok(None),
            Some((key, value)) => ctx.map(value, &self.child(name), key.line).map(Some),
        }
    }

    /// Takes field `name` as env-capable text ("" when absent).
    pub fn text(&mut self, ctx: &Ctx<'_>, name: &'static str) -> Result<String, ConfigError> {
        match self.take(name) {
            None => Ok(String::new()),
            Some(node) => ctx.text(node, &self.child(name)),
        }
    }

    /// Takes field `name` as a secret (`None` when absent or empty).
    pub fn secret(
        &mut self,
        ctx: &Ctx<'_>,
        name: &'static str,
    ) -> Result<Option<Secret>, ConfigError> {
        match self.take(name) {
            None => Ok(None),
            Some(node) => {
                let s = ctx.secret(node, &self.child(name))?;
                Ok((!s.is_empty()).then_some(s))
            }
        }
    }

    /// Takes field `name` as an optional path.
    pub fn path_opt(
        &mut self,
        ctx: &Ctx<'_>,
        name: &'static str,
    ) -> Result<Option<PathBuf>, ConfigError> {
        match self.take(name) {
            None => Ok(None),
            Some(node) => ctx.path(node, &self.child(name)),
        }
    }

    /// Takes field `name` as env-capable text that must not be empty;
    /// `message` is the error when it is absent or empty.
    pub fn required(
        &mut self,
        ctx: &Ctx<'_>,
        name: &'static str,
        message: &str,
    ) -> Result<String, ConfigError> {
        let value = self.text(ctx, name)?;
        if value.is_empty() {
            return Err(self.missing(ctx, name, message));
        }
        Ok(value)
    }

    /// Takes field `name` as a secret that must not be empty; `message` is
    /// the error when it is absent or empty.
    pub fn required_secret(
        &mut self,
        ctx: &Ctx<'_>,
        name: &'static str,
        message: &str,
    ) -> Result<Secret, ConfigError> {
        match self.secret(ctx, name)? {
            Some(secret) => Ok(secret),
            None => Err(self.missing(ctx, name, message)),
        }
    }

    /// Takes field `name` as env-capable text, `default` when absent or
    /// empty.
    pub fn text_or(
        &mut self,
        ctx: &Ctx<'_>,
        name: &'static str,
        default: &str,
    ) -> Result<String, ConfigError> {
        let value = self.text(ctx, name)?;
        Ok(if value.is_empty() {
            default.to_owned()
        } else {
            value
        })
    }

    /// Takes a retired field, if present, with a warning saying `why` it
    /// has no effect.
    pub fn retired(&mut self, ctx: &mut Ctx<'_>, name: &'static str, why: &str) {
        if let Some((key, _)) = self.take_entry(name) {
            ctx.warn(
                key.line,
                &self.child(name),
                format!("retired field, ignored: {why}"),
            );
        }
    }

    /// The error for a required field `name` that is absent or empty: at
    /// the field's line if present, else at this mapping's.
    pub fn missing(&self, ctx: &Ctx<'_>, name: &str, message: &str) -> ConfigError {
        ctx.invalid(self.line_of(name), &self.child(name), message)
    }

    /// Whether field `name` is present (taken or not).
    pub fn has(&self, name: &str) -> bool {
        self.entries.iter().any(|e| e.name == name)
    }

    /// The line of field `name` if present, else of this mapping.
    pub fn line_of(&self, name: &str) -> usize {
        self.entries
            .iter()
            .find(|e| e.name == name)
            .map_or(self.line, |e| e.key.line)
    }

    /// Takes every remaining field (for mappings keyed by user names, such
    /// as `policy:` and `api:`), in document order.
    pub fn take_all(&mut self) -> Vec<(&'n str, &'n Node, &'n Node)> {
        self.entries
            .iter_mut()
            .filter(|e| !e.used)
            .map(|e| {
                e.used = true;
                (e.name, e.key, e.value)
            })
            .collect()
    }

    /// Fails on the first field not in `known`. Called before decoding a
    /// mapping with required fields, so that a misspelt field is reported
    /// as unknown rather than as a missing required one.
    pub fn expect_only(&self, ctx: &Ctx<'_>, known: &[&str]) -> Result<(), ConfigError> {
        match self.entries.iter().find(|e| !known.contains(&e.name)) {
            None => Ok(()),
            Some(unknown) => Err(self.unknown(ctx, unknown, known)),
        }
    }

    /// Fails on the first field that was not taken.
    pub fn finish(&self, ctx: &Ctx<'_>) -> Result<(), ConfigError> {
        match self.entries.iter().find(|e| !e.used) {
            None => Ok(()),
            Some(unknown) => Err(self.unknown(ctx, unknown, &self.asked)),
        }
    }

    fn unknown(&self, ctx: &Ctx<'_>, unknown: &Entry<'_>, known: &[&str]) -> ConfigError {
        let mut known = known.to_vec();
        known.sort_unstable();
        known.dedup();
        let hint = if known.is_empty() {
            String::new()
        } else {
            format!(" (known fields: {})", known.join(", "))
        };
        ctx.invalid(
            unknown.key.line,
            &self.child(unknown.name),
            format!("unknown field '{}'{hint}", unknown.name),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn doc(text: &str) -> Node {
        yaml::parse(text).unwrap().unwrap()
    }

    #[test]
    fn env_references_are_whole_trimmed_scalars() {
        assert_eq!(env_reference("${X}"), Some("X"));
        assert_eq!(env_reference("  ${ X }  "), Some("X"));
        assert_eq!(env_reference("a-${X}"), None);
        assert_eq!(env_reference("${X}-b"), None);
        assert_eq!(env_reference("$X"), None);
    }

    #[test]
    fn unknown_and_duplicate_fields_name_their_line() {
        let env = |_: &str| None;
        let ctx = Ctx::new("c.yml", &env);
        let root = doc("a: 1\nb: 2\n");
        let mut f = ctx.map(&root, "", 1).unwrap();
        assert!(f.take("a").is_some());
        let err = f.finish(&ctx).unwrap_err().to_string();
        assert_eq!(err, "c.yml:2: b: unknown field 'b' (known fields: a)");

        let root = doc("a: 1\nx:\n  a: 1\n  a: 2\n");
        let mut f = ctx.map(&root, "", 1).unwrap();
        let err = f.take_map(&ctx, "x").err().unwrap().to_string();
        assert_eq!(
            err,
            "c.yml:4: x.a: duplicate field 'a' (first given in line 3)"
        );
    }

    #[test]
    fn substitution_and_missing_variables() {
        let env = |n: &str| (n == "SET").then(|| "value".to_owned());
        let ctx = Ctx::new("c.yml", &env);
        let root = doc("a: ${SET}\nb: \"${ MISSING }\"\nc: pre-${SET}\n");
        let mut f = ctx.map(&root, "", 1).unwrap();
        assert_eq!(f.text(&ctx, "a").unwrap(), "value");
        assert_eq!(f.text(&ctx, "c").unwrap(), "pre-${SET}");
        let err = f.text(&ctx, "b").unwrap_err().to_string();
        assert_eq!(
            err,
            "c.yml:2: b: referenced env. variable 'MISSING' in line '2' not found"
        );
    }

    #[test]
    fn booleans_and_durations() {
        let env = |_: &str| None;
        let ctx = Ctx::new("c.yml", &env);
        let root = doc("t: true\nf: off\nx: maybe\nd: 1m30s\nn: -5s\n");
        let Value::Map(p) = &root.value else { panic!() };
        assert!(ctx.boolean(&p[0].1, "t").unwrap());
        assert!(!ctx.boolean(&p[1].1, "f").unwrap());
        assert!(ctx.boolean(&p[2].1, "x").is_err());
        assert_eq!(
            ctx.duration(&p[3].1, "d", |d| d.to_owned()).unwrap(),
            Duration::from_secs(90)
        );
        let err = ctx
            .duration(&p[4].1, "n", |d| format!("negative '{d}'"))
            .unwrap_err()
            .to_string();
        assert_eq!(err, "c.yml:5: n: negative '-5s'");
    }
}
