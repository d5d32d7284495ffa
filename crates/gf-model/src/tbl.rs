//! The table reader under every TOML reader: [`Tbl`] takes fields out of one
//! spanned table, remembering where each was and which were asked for, so
//! that a missing or mistyped field is reported with its line and column and
//! whatever is left at the end is named as unknown beside the accepted ones.
//!
//! [`FromToml`] reads one value of a field and says what it expected when the
//! value is of another type. The range checks at the end are the ones every
//! reader applies to a number just read, so each message is worded once.

use std::collections::BTreeMap;

use toml_span::value::{Table, Value, ValueInner};

use crate::diag::Diagnostics;
use crate::locs::Locs;
use crate::units::Date;

/// A value that can be read from one TOML value, reporting what was expected.
pub(crate) trait FromToml: Sized {
    fn from_toml(cx: &mut Diagnostics, v: Value<'_>) -> Option<Self>;
}

fn type_name(v: &ValueInner<'_>) -> &'static str {
    match v {
        ValueInner::String(_) => "a string",
        ValueInner::Integer(_) => "an integer",
        ValueInner::Float(_) => "a float",
        ValueInner::Boolean(_) => "a boolean",
        ValueInner::Array(_) => "an array",
        ValueInner::Table(_) => "a table",
    }
}

/// Reports a value of the wrong type at `at`.
pub(crate) fn wanted(cx: &mut Diagnostics, at: usize, what: &str, found: &ValueInner<'_>) {
    cx.error(at, format!("expected {what}, found {}", type_name(found)));
}

impl FromToml for String {
    fn from_toml(cx: &mut Diagnostics, mut v: Value<'_>) -> Option<Self> {
        match v.take() {
            ValueInner::String(s) => Some(s.into_owned()),
            other => {
                wanted(cx, v.span.start, "a string", &other);
                None
            }
        }
    }
}

impl FromToml for bool {
    fn from_toml(cx: &mut Diagnostics, mut v: Value<'_>) -> Option<Self> {
        match v.take() {
            ValueInner::Boolean(b) => Some(b),
            other => {
                wanted(cx, v.span.start, "true or false", &other);
                None
            }
        }
    }
}

impl FromToml for f64 {
    fn from_toml(cx: &mut Diagnostics, mut v: Value<'_>) -> Option<Self> {
        match v.take() {
            ValueInner::Float(f) if f.is_finite() => within_max(cx, v.span.start, f),
            ValueInner::Float(_) => {
                cx.error(v.span.start, "expected a finite number, found inf or nan");
                None
            }
            ValueInner::Integer(i) => within_max(cx, v.span.start, i as f64),
            other => {
                wanted(cx, v.span.start, "a number", &other);
                None
            }
        }
    }
}

/// The largest magnitude a number of the file may have: a quadrillion,
/// far past any fleet's dollars, GPUs, watts or requests per second (the
/// seeds' 20M-GPU fleet commits 1.2e12 dollars), yet far enough below
/// `f64::MAX` that sums and products of them stay finite (1e308 given as a
/// price made the spend `inf` and its share of a commitment NaN).
pub(crate) const MAX_NUMBER: f64 = 1e15;

fn within_max(cx: &mut Diagnostics, at: usize, x: f64) -> Option<f64> {
    if x.abs() > MAX_NUMBER {
        cx.error(
            at,
            format!("{x:e} is out of range; expected a number from -1e15 to 1e15"),
        );
        return None;
    }
    Some(x)
}

macro_rules! from_toml_uint {
    ($t:ty) => {
        impl FromToml for $t {
            fn from_toml(cx: &mut Diagnostics, mut v: Value<'_>) -> Option<Self> {
                match v.take() {
                    ValueInner::Integer(i) => match <$t>::try_from(i) {
                        Ok(n) => Some(n),
                        Err(_) => {
                            cx.error(
                                v.span.start,
                                format!(
                                    "{i} is out of range; expected a whole number from 0 to {}",
                                    <$t>::MAX
                                ),
                            );
                            None
                        }
                    },
                    other => {
                        wanted(cx, v.span.start, "a whole number", &other);
                        None
                    }
                }
            }
        }
    };
}
from_toml_uint!(u32);
from_toml_uint!(u64);

impl FromToml for Date {
    fn from_toml(cx: &mut Diagnostics, mut v: Value<'_>) -> Option<Self> {
        match v.take() {
            ValueInner::String(s) => match s.parse::<Date>() {
                Ok(d) => Some(d),
                Err(e) => {
                    cx.error(v.span.start, e);
                    None
                }
            },
            other => {
                wanted(cx, v.span.start, "a date string \"YYYY-MM-DD\"", &other);
                None
            }
        }
    }
}

impl<T: FromToml> FromToml for Vec<T> {
    fn from_toml(cx: &mut Diagnostics, mut v: Value<'_>) -> Option<Self> {
        match v.take() {
            ValueInner::Array(items) => {
                let n = items.len();
                let out: Vec<T> = items
                    .into_iter()
                    .filter_map(|i| T::from_toml(cx, i))
                    .collect();
                (out.len() == n).then_some(out)
            }
            other => {
                wanted(cx, v.span.start, "an array", &other);
                None
            }
        }
    }
}

/// A table of name → value, such as a quota or a throughput table.
impl<T: FromToml> FromToml for BTreeMap<String, T> {
    fn from_toml(cx: &mut Diagnostics, mut v: Value<'_>) -> Option<Self> {
        match v.take() {
            ValueInner::Table(t) => {
                let n = t.len();
                let out: BTreeMap<String, T> = t
                    .into_iter()
                    .filter_map(|(k, v)| T::from_toml(cx, v).map(|x| (k.name.into_owned(), x)))
                    .collect();
                (out.len() == n).then_some(out)
            }
            other => {
                wanted(cx, v.span.start, "a table of name = value", &other);
                None
            }
        }
    }
}

/// One TOML table being read: what was taken from it is remembered, so that
/// whatever is left at the end is an unknown field.
pub(crate) struct Tbl<'de> {
    table: Table<'de>,
    /// Where the table starts: messages about the table as a whole point here.
    pub(crate) start: usize,
    kind: &'static str,
    known: Vec<&'static str>,
    pub(crate) locs: Locs,
}

impl<'de> Tbl<'de> {
    /// Starts reading `v`, which must be a table; `kind` names it in messages.
    pub(crate) fn new(cx: &mut Diagnostics, mut v: Value<'de>, kind: &'static str) -> Option<Self> {
        match v.take() {
            ValueInner::Table(table) => Some(Tbl {
                table,
                start: v.span.start,
                kind,
                known: Vec::new(),
                locs: Locs::new(v.span.start as u32),
            }),
            other => {
                wanted(cx, v.span.start, &format!("a table for {kind}"), &other);
                None
            }
        }
    }

    pub(crate) fn take(&mut self, key: &'static str) -> Option<Value<'de>> {
        self.known.push(key);
        let (_, v) = self.table.remove_entry(key)?;
        self.locs.set(key, v.span.start as u32);
        Some(v)
    }

    /// A field that must be present.
    pub(crate) fn req<T: FromToml>(
        &mut self,
        cx: &mut Diagnostics,
        key: &'static str,
    ) -> Option<T> {
        match self.take(key) {
            Some(v) => T::from_toml(cx, v),
            None => {
                cx.error(
                    self.start,
                    format!("missing field `{key}` in {}", self.kind),
                );
                None
            }
        }
    }

    /// A field that may be absent; `None` when absent or invalid (invalid is reported).
    pub(crate) fn opt<T: FromToml>(
        &mut self,
        cx: &mut Diagnostics,
        key: &'static str,
    ) -> Option<T> {
        self.take(key).and_then(|v| T::from_toml(cx, v))
    }

    /// A field with a default when absent.
    pub(crate) fn or<T: FromToml>(&mut self, cx: &mut Diagnostics, key: &'static str, d: T) -> T {
        self.opt(cx, key).unwrap_or(d)
    }

    /// An array of tables (`[[key]]`), each read by `read`; absent means empty.
    pub(crate) fn list<T>(
        &mut self,
        cx: &mut Diagnostics,
        key: &'static str,
        read: fn(&mut Diagnostics, Value<'de>) -> Option<T>,
    ) -> Vec<T> {
        let Some(mut v) = self.take(key) else {
            return Vec::new();
        };
        match v.take() {
            ValueInner::Array(items) => items.into_iter().filter_map(|i| read(cx, i)).collect(),
            other => {
                wanted(
                    cx,
                    v.span.start,
                    &format!("an array of tables `[[{key}]]`"),
                    &other,
                );
                Vec::new()
            }
        }
    }

    /// Where a field's value was written, as a byte offset.
    pub(crate) fn at(&self, key: &str) -> usize {
        self.locs.of(key) as usize
    }

    /// Reports every field that was not taken, naming the accepted ones, and
    /// hands back where each field was.
    pub(crate) fn finish(self, cx: &mut Diagnostics) -> Locs {
        let mut known = self.known.clone();
        known.sort_unstable();
        for (k, _) in self.table {
            cx.error(
                k.span.start,
                format!(
                    "unknown field `{}` in {}; expected one of: {}",
                    k.name,
                    self.kind,
                    known.join(", ")
                ),
            );
        }
        self.locs
    }
}

/// Reports `x` at `key` when it is negative.
pub(crate) fn non_negative(cx: &mut Diagnostics, t: &Tbl<'_>, key: &str, x: f64) {
    if x < 0.0 {
        cx.error(
            t.at(key),
            format!("`{key}` is {x}; it must be zero or more"),
        );
    }
}

/// Reports `x` at `key` when it is zero or negative.
pub(crate) fn positive(cx: &mut Diagnostics, t: &Tbl<'_>, key: &str, x: f64) {
    if x <= 0.0 {
        cx.error(
            t.at(key),
            format!("`{key}` is {x}; it must be more than zero"),
        );
    }
}

/// Reports `x` at `key` when it is outside `lo..=hi`; `what` says what
/// the bounds are in words (e.g. "from 1 second to a year").
pub(crate) fn between(
    cx: &mut Diagnostics,
    t: &Tbl<'_>,
    key: &str,
    x: f64,
    (lo, hi): (f64, f64),
    what: &str,
) {
    if !(lo..=hi).contains(&x) {
        cx.error(
            t.at(key),
            format!("`{key}` is {x}; it must be from {lo} to {hi} ({what})"),
        );
    }
}

/// The longest term or lead a file may give, in months: a century (a
/// contract's end must stay a date of the calendar, and a plan's months a
/// model a solver can build).
pub(crate) const MAX_MONTHS: u32 = 1_200;

/// Reports a count of months at `key` outside `least..=MAX_MONTHS`.
pub(crate) fn months(cx: &mut Diagnostics, t: &Tbl<'_>, key: &str, m: Option<u32>, least: u32) {
    if let Some(m) = m
        && !(least..=MAX_MONTHS).contains(&m)
    {
        cx.error(
            t.at(key),
            format!("`{key}` is {m}; it must be from {least} to {MAX_MONTHS} (a century)"),
        );
    }
}

/// Reports `x` at `key` when it is outside 0..=1.
pub(crate) fn fraction(cx: &mut Diagnostics, t: &Tbl<'_>, key: &str, x: f64) {
    if !(0.0..=1.0).contains(&x) {
        cx.error(t.at(key), format!("`{key}` is {x}; it must be from 0 to 1"));
    }
}
