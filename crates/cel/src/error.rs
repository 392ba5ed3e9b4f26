//! The two stages' errors: [`CompileError`] (the expression cannot be a program) and [`EvalError`] (this
//! evaluation failed). Messages are lowercase, with what the expression said in backticks.

use core::fmt;

/// Why an expression does not compile, and where (1-based line and column, in characters).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompileError {
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl CompileError {
    pub(crate) fn new(line: u32, column: u32, message: impl Into<String>) -> Self {
        Self {
            line,
            column,
            message: message.into(),
        }
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.line, self.column, self.message)
    }
}

impl std::error::Error for CompileError {}

/// Why an evaluation failed. Each kind has a stable [`code`](EvalError::code).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EvalError {
    /// No overload of the function or operator takes these argument types.
    NoMatchingOverload(String),
    /// Integer arithmetic left its type's range, or a conversion's target cannot hold the value.
    Overflow(String),
    DivideByZero,
    /// A map has no such key (or field).
    NoSuchKey(String),
    IndexOutOfRange(String),
    /// An argument a function cannot use: a malformed timestamp or duration, a bad CIDR, ...
    InvalidArgument(String),
    /// A name no binding or declaration gives.
    UndeclaredReference(String),
    /// The evaluation would cost more than its limit allows.
    CostLimit(u64),
}

impl EvalError {
    /// A stable code for logs and answers.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::NoMatchingOverload(_) => "no_matching_overload",
            Self::Overflow(_) => "overflow",
            Self::DivideByZero => "divide_by_zero",
            Self::NoSuchKey(_) => "no_such_key",
            Self::IndexOutOfRange(_) => "index_out_of_range",
            Self::InvalidArgument(_) => "invalid_argument",
            Self::UndeclaredReference(_) => "undeclared_reference",
            Self::CostLimit(_) => "cost_limit_exceeded",
        }
    }
}

impl fmt::Display for EvalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoMatchingOverload(what) => write!(f, "no matching overload for {what}"),
            Self::Overflow(what) => write!(f, "{what} overflows"),
            Self::DivideByZero => f.write_str("divide by zero"),
            Self::NoSuchKey(key) => write!(f, "no such key: {key}"),
            Self::IndexOutOfRange(what) => write!(f, "index out of range: {what}"),
            Self::InvalidArgument(what) => f.write_str(what),
            Self::UndeclaredReference(name) => write!(f, "undeclared reference to `{name}`"),
            Self::CostLimit(limit) => {
                write!(f, "the evaluation costs more than its limit of {limit}")
            }
        }
    }
}

impl std::error::Error for EvalError {}
