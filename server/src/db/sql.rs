//! Queries whose conditions depend on the request, and the days the console's filters name.
use chrono::NaiveDate;
use sqlx::{any::AnyArguments, query::Query, Any};

use crate::Error;

/// SQL with numbered placeholders (`$1`, `$2`…, which both engines take through sqlx's Any
/// driver) and the values that fill them.
pub struct Sql {
    text: String,
    args: Vec<Arg>,
}

enum Arg {
    Text(Option<String>),
    Int(Option<i64>),
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql { text: text.to_string(), args: Vec::new() }
    }

    pub fn push(&mut self, text: impl AsRef<str>) -> &mut Sql {
        self.text.push_str(text.as_ref());
        self
    }

    pub fn push_bind(&mut self, value: impl Into<ArgValue>) -> &mut Sql {
        self.args.push(value.into().0);
        self.text.push_str(&format!("${}", self.args.len()));
        self
    }

    /// `(…), (…)`: the rows of a multi-row INSERT, each value bound.
    pub fn push_rows(&mut self, rows: impl IntoIterator<Item = Vec<ArgValue>>) -> &mut Sql {
        for (n, row) in rows.into_iter().enumerate() {
            self.push(if n == 0 { "(" } else { ", (" });
            for (i, value) in row.into_iter().enumerate() {
                if i > 0 {
                    self.push(", ");
                }
                self.push_bind(value);
            }
            self.push(")");
        }
        self
    }

    pub fn build(&self) -> Query<'_, Any, AnyArguments<'_>> {
        self.args.iter().fold(sqlx::query(&self.text), |query, arg| match arg {
            Arg::Text(text) => query.bind(text.clone()),
            Arg::Int(number) => query.bind(*number),
        })
    }
}

pub struct ArgValue(Arg);

impl From<String> for ArgValue {
    fn from(text: String) -> ArgValue {
        ArgValue(Arg::Text(Some(text)))
    }
}

impl From<&str> for ArgValue {
    fn from(text: &str) -> ArgValue {
        ArgValue(Arg::Text(Some(text.to_string())))
    }
}

impl From<i64> for ArgValue {
    fn from(number: i64) -> ArgValue {
        ArgValue(Arg::Int(Some(number)))
    }
}

/// A NULL keeps its column's type: PostgreSQL refuses a text NULL for a BIGINT column.
impl From<Option<&str>> for ArgValue {
    fn from(text: Option<&str>) -> ArgValue {
        ArgValue(Arg::Text(text.map(String::from)))
    }
}

impl From<Option<i64>> for ArgValue {
    fn from(number: Option<i64>) -> ArgValue {
        ArgValue(Arg::Int(number))
    }
}

/// The first millisecond of `day` (`YYYY-MM-DD`, UTC); `name` says which field it was.
pub(crate) fn day_start_ms(day: &str, name: &str) -> Result<i64, Error> {
    let date = NaiveDate::parse_from_str(day.trim(), "%Y-%m-%d")
        .map_err(|_| Error::Invalid(format!("{name} must be a day like 2026-11-25")))?;
    Ok(date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc().timestamp_millis())
}
