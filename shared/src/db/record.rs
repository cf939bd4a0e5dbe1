//! Rows read by column name, fallibly. A row whose column is missing, of another type or holds a
//! value our types do not know (an unknown status, say) is a [`DecodeError`] naming the table and
//! the column; it becomes a 500 with a request id, never a panic (release builds abort on one).

use crate::crypto::cipher::Sealed;
use std::fmt::Display;
use std::str::FromStr;
use tokio_postgres::Row;
use tokio_postgres::types::FromSql;

/// A column could not be read into the type the code expects.
#[derive(Debug, thiserror::Error)]
#[error("reading {table}.{column}: {reason}")]
pub struct DecodeError {
    /// The table (or query) the row came from.
    pub table: &'static str,
    /// The column.
    pub column: String,
    /// What went wrong.
    pub reason: String,
}

/// A row of `table`, read by column name.
#[derive(Clone, Copy)]
pub struct Record<'r> {
    row: &'r Row,
    table: &'static str,
}

impl<'r> Record<'r> {
    /// Reads `row`, which came from `table` (or a query named after its main table).
    pub fn new(row: &'r Row, table: &'static str) -> Record<'r> {
        Record { row, table }
    }

    /// The value of `column`.
    pub fn get<T: FromSql<'r>>(&self, column: &str) -> Result<T, DecodeError> {
        self.row
            .try_get(column)
            .map_err(|e| self.error(column, e.to_string()))
    }

    /// The value of a text `column` parsed into a domain type (a status, a mode, a currency):
    /// a value the type does not know is an error, never a default.
    pub fn parse<T>(&self, column: &str) -> Result<T, DecodeError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let raw: &str = self.get(column)?;
        raw.parse()
            .map_err(|e: T::Err| self.error(column, format!("unexpected value {raw:?}: {e}")))
    }

    /// As [`Record::parse`], for a nullable column.
    pub fn parse_opt<T>(&self, column: &str) -> Result<Option<T>, DecodeError>
    where
        T: FromStr,
        T::Err: Display,
    {
        let raw: Option<&str> = self.get(column)?;
        raw.map(|raw| {
            raw.parse()
                .map_err(|e: T::Err| self.error(column, format!("unexpected value {raw:?}: {e}")))
        })
        .transpose()
    }

    /// A value that must be present although the column is nullable (a gateway reference once an
    /// order exists, say): `NULL` is an error naming the column.
    pub fn required<T: FromSql<'r>>(&self, column: &str) -> Result<T, DecodeError> {
        self.get::<Option<T>>(column)?
            .ok_or_else(|| self.error(column, "is NULL where a value is required".into()))
    }

    /// A sealed value stored as `{prefix}key_id`, `{prefix}nonce` and `{prefix}ciphertext`;
    /// `None` when the key id is NULL (nothing sealed yet).
    pub fn sealed(&self, prefix: &str) -> Result<Option<Sealed>, DecodeError> {
        let Some(key_id) = self.get::<Option<String>>(&format!("{prefix}key_id"))? else {
            return Ok(None);
        };
        let column = format!("{prefix}nonce");
        let nonce: Vec<u8> = self.required(&column)?;
        Ok(Some(Sealed {
            key_id,
            nonce: nonce
                .as_slice()
                .try_into()
                .map_err(|_| self.error(&column, "has the wrong length".into()))?,
            ciphertext: self.required(&format!("{prefix}ciphertext"))?,
        }))
    }

    fn error(&self, column: &str, reason: String) -> DecodeError {
        DecodeError {
            table: self.table,
            column: column.to_string(),
            reason,
        }
    }
}
