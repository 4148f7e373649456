//! A [`RateLimit`] as the SQL stores keep it, for a token and for an owner alike: three
//! nullable integer columns, all null for no limit.
//!
//! Reading never trusts the database: a combination this code could not have written (some
//! columns null and not others, a number out of range, a limit [`RateLimit::from_parts`]
//! refuses) is an error naming the column, which the store reports as
//! [`StoreError::Corrupt`](crate::store::StoreError::Corrupt) for its row.

use crate::limit::{RateLimit, RateLimitError};

/// The columns' names, in the order [`to_columns`] gives and [`from_columns`] takes them.
pub(crate) const COLUMNS: [&str; 3] = ["rate_limit_limit", "rate_limit_period", "rate_limit_burst"];

/// A limit's three numbers, or three nulls for none.
pub(crate) fn to_columns(limit: Option<RateLimit>) -> [Option<i64>; 3] {
    match limit {
        Some(limit) => [limit.limit(), limit.period_secs(), limit.burst()].map(|n| Some(i64::from(n))),
        None => [None; 3],
    }
}

/// The limit three columns hold, or the column that holds what no limit could, and why.
pub(crate) fn from_columns(values: [Option<i64>; 3]) -> Result<Option<RateLimit>, (&'static str, String)> {
    if values == [None; 3] {
        return Ok(None);
    }
    let [Some(limit), Some(period), Some(burst)] = values else {
        // The first column that is null, and the first that is not.
        let first = |null: bool| COLUMNS.into_iter().zip(values).find(|(_, v)| v.is_none() == null);
        let (null, set) = (first(true).map_or("", |c| c.0), first(false).map_or("", |c| c.0));
        return Err((null, format!("null while {set} is set")));
    };
    let number = |value: i64, column: &'static str| {
        u32::try_from(value).map_err(|_| (column, format!("{value} is out of range")))
    };
    let [limit_column, period_column, burst_column] = COLUMNS;
    let parts = (
        number(limit, limit_column)?,
        number(period, period_column)?,
        number(burst, burst_column)?,
    );
    RateLimit::from_parts(parts.0, parts.1, parts.2)
        .map(Some)
        .map_err(|err| {
            let column = match err {
                RateLimitError::ZeroLimit => limit_column,
                RateLimitError::Period => period_column,
                RateLimitError::Burst { .. } => burst_column,
            };
            (column, err.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_and_none_round_trip() {
        let limit = RateLimit::from_parts(100, 60, 20).unwrap();
        assert_eq!(to_columns(Some(limit)), [Some(100), Some(60), Some(20)]);
        assert_eq!(from_columns(to_columns(Some(limit))), Ok(Some(limit)));
        assert_eq!(from_columns(to_columns(None)), Ok(None));
        let widest = RateLimit::from_parts(u32::MAX, 86_400, u32::MAX).unwrap();
        assert_eq!(from_columns(to_columns(Some(widest))), Ok(Some(widest)));
    }

    #[test]
    fn what_no_limit_could_be_names_its_column() {
        let column = |values| from_columns(values).unwrap_err().0;
        assert_eq!(column([Some(1), None, Some(1)]), "rate_limit_period");
        assert_eq!(column([None, Some(1), Some(1)]), "rate_limit_limit");
        assert_eq!(column([Some(1), Some(1), None]), "rate_limit_burst");
        assert_eq!(column([Some(0), Some(60), Some(1)]), "rate_limit_limit");
        assert_eq!(column([Some(-1), Some(60), Some(1)]), "rate_limit_limit");
        assert_eq!(column([Some(1), Some(86_401), Some(1)]), "rate_limit_period");
        assert_eq!(column([Some(1), Some(60), Some(101)]), "rate_limit_burst");
        assert_eq!(column([Some(1), Some(60), Some(1 << 32)]), "rate_limit_burst");
        let (_, why) = from_columns([Some(1), None, Some(1)]).unwrap_err();
        assert_eq!(why, "null while rate_limit_limit is set");
    }
}
