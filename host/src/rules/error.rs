//! The rules module's errors: loading a rule file, rendering a template.

/// A rule file that cannot be loaded. Each names the file, and the field
/// with what was expected there.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LoadError {
    /// The text is not YAML (or has keys that are not strings).
    #[error("{file}: not valid YAML: {reason}")]
    Syntax { file: String, reason: String },
    /// A field is missing, of the wrong type, or unknown.
    #[error("{file}: {field}: expected {expected}, found {found}")]
    Field { file: String, field: String, expected: String, found: String },
}

/// A template that failed while rendering the action parameters of a rule
/// that matched (an undefined variable, a filter on the wrong type).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{rule}: {field}: {reason}")]
pub struct RenderError {
    /// The rule's reference, `pack.name`.
    pub rule: String,
    /// The parameter, e.g. `action.parameters.message`.
    pub field: String,
    pub reason: String,
}
