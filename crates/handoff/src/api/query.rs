//! Query parameters, checked against their documented type and range (SPEC §2): a bad
//! value is a 422 naming it, never a silent default; every bad one is named at once.
//! Parameters arrive as text (`Option<String>` fields) so that a wrong type is our 422,
//! not the extractor's plain-text 400.

use super::{ApiError, ApiResult};
use axum::extract::Query;
use axum::extract::rejection::QueryRejection;
use handoff_domain::FieldError;
use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;

/// The query, or a problem document when it cannot be read at all (a name twice).
pub fn read<T>(q: Result<Query<T>, QueryRejection>) -> ApiResult<T> {
    q.map(|Query(t)| t).map_err(|r| {
        ApiError::new(
            axum::http::StatusCode::BAD_REQUEST,
            format!("the query string cannot be read: {}", r.body_text()),
        )
    })
}

/// Collects what is wrong with the parameters of one request.
#[derive(Debug, Default)]
pub struct Checked(Vec<FieldError>);

impl Checked {
    /// `text` as a number in `range`, or `None` (named as `name` when it is not one).
    pub fn number<T>(
        &mut self,
        name: &str,
        text: Option<&str>,
        range: RangeInclusive<T>,
    ) -> Option<T>
    where
        T: FromStr + PartialOrd + Display,
    {
        let text = text?;
        match text.trim().parse::<T>() {
            Ok(v) if range.contains(&v) => Some(v),
            _ => {
                self.0.push(FieldError::new(
                    name,
                    format!("must be a number from {} to {}", range.start(), range.end()),
                ));
                None
            }
        }
    }

    /// `text` as one of the words `parse` knows, or `None` (named as `name`, with
    /// `message`, when it is not one).
    pub fn word<T>(
        &mut self,
        name: &str,
        text: Option<&str>,
        parse: impl Fn(&str) -> Option<T>,
        message: &str,
    ) -> Option<T> {
        let value = parse(text?);
        if value.is_none() {
            self.0.push(FieldError::new(name, message));
        }
        value
    }

    /// 422 naming every bad parameter, or `Ok`.
    pub fn done(self) -> ApiResult<()> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(self.0))
        }
    }
}
