//! Multi-row `INSERT`s of a few fixed widths, for the batch writers (the message id map, the
//! archive). One statement per row cost a round trip to the database's thread per row (sqlx
//! runs SQLite on a thread of its own); one statement as wide as the batch was new text for
//! every batch, prepared anew each time (slower, measured). Cutting a batch into statements
//! of 256, 128, ..., 2 and 1 rows (powers of two) keeps nine texts, each prepared once per
//! connection, and any batch of `n` rows takes at most `n / 256 + 8` statements.
//!
//! Wide, because each statement is a round trip, and a round trip is slow when the gateway
//! is busy: the writer task is woken from the database's thread, so it waits in the
//! runtime's global queue behind the sessions (measured: statements of at most 16 rows, ~50
//! round trips a batch, let the id map's writer fall behind by 94,000 records in a
//! saturation run). 256 rows of the widest insert (the id map's 9 columns) are 2,304
//! parameters: far below SQLite's 32,766 and PostgreSQL's 65,535.
//!
//! SQLite's texts use anonymous `?` parameters, PostgreSQL's numbered `$n` ones: sqlx-sqlite
//! maps a numbered parameter by asking SQLite its name, which SQLite finds by a scan of the
//! statement's names, so a statement of 144 numbered parameters cost ~10,000 steps to bind
//! (measured: the multi-row statements with `$n` took more instructions per message than one
//! statement per row).

use crate::batch_tx::{BatchTx, Param};
use crate::store::Backend;

/// The widths a batch is cut into, widest first.
pub(crate) const WIDTHS: [usize; 9] = [256, 128, 64, 32, 16, 8, 4, 2, 1];

/// The statements of one kind of insert, one per width of [`WIDTHS`], for each backend.
pub(crate) struct Inserts {
    /// Parameters a row.
    cols: usize,
    sqlite: [String; WIDTHS.len()],
    postgres: [String; WIDTHS.len()],
}

impl Inserts {
    /// `head`, then ` VALUES (p, ..., p), (...)` with `cols` parameters a tuple and as many
    /// tuples as each width, then `tail` (an `ON CONFLICT` clause).
    pub(crate) fn new(head: &str, cols: usize, tail: &str) -> Inserts {
        let build = |numbered: bool| {
            WIDTHS.map(|rows| {
                let mut sql = String::with_capacity(head.len() + tail.len() + rows * cols * 6 + 16);
                sql.push_str(head);
                sql.push_str(" VALUES ");
                for r in 0..rows {
                    sql.push_str(if r == 0 { "(" } else { ", (" });
                    for c in 0..cols {
                        if c > 0 {
                            sql.push_str(", ");
                        }
                        if numbered {
                            sql.push('$');
                            sql.push_str(&(r * cols + c + 1).to_string());
                        } else {
                            sql.push('?');
                        }
                    }
                    sql.push(')');
                }
                sql.push(' ');
                sql.push_str(tail);
                sql
            })
        };
        Inserts {
            cols,
            sqlite: build(false),
            postgres: build(true),
        }
    }

    /// `rows` cut into chunks of [`WIDTHS`], each with the statement that inserts it on
    /// `backend`.
    pub(crate) fn chunks<'s, 'a, T>(
        &'s self,
        backend: Backend,
        rows: &'a [T],
    ) -> impl Iterator<Item = (&'s str, &'a [T])> + use<'s, 'a, T> {
        let texts = match backend {
            Backend::Sqlite => &self.sqlite,
            Backend::Postgres => &self.postgres,
        };
        let mut rest = rows;
        std::iter::from_fn(move || {
            let (i, width) = WIDTHS.iter().enumerate().find(|(_, w)| **w <= rest.len())?;
            let (chunk, tail) = rest.split_at(*width);
            rest = tail;
            Some((texts[i].as_str(), chunk))
        })
    }

    /// Inserts `rows` in `tx`, `params` giving one row's values in its columns' order.
    pub(crate) async fn execute<'r, T, const N: usize>(
        &'static self,
        tx: &mut BatchTx,
        rows: &'r [T],
        params: impl Fn(&'r T) -> [Param<'r>; N],
    ) -> Result<(), sqlx::Error> {
        debug_assert_eq!(N, self.cols, "a row's values, one for each column");
        for (sql, chunk) in self.chunks(tx.backend(), rows) {
            tx.execute(sql, chunk.iter().flat_map(&params)).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_number_their_parameters_row_after_row() {
        let s = Inserts::new("INSERT INTO t (a, b)", 2, "ON CONFLICT DO NOTHING");
        assert_eq!(
            s.postgres[WIDTHS.len() - 2],
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            s.postgres[WIDTHS.len() - 1],
            "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        );
        assert!(s.postgres[0].ends_with("($511, $512) ON CONFLICT DO NOTHING"));
        assert_eq!(
            s.sqlite[WIDTHS.len() - 2],
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?) ON CONFLICT DO NOTHING"
        );
    }

    #[test]
    fn batches_are_cut_widest_first_and_nothing_is_left_out() {
        let s = Inserts::new("INSERT INTO t (a)", 1, "");
        for n in (0..100usize).chain([255, 256, 257, 511, 767, 768, 1000]) {
            let rows: Vec<usize> = (0..n).collect();
            let chunks: Vec<(&str, &[usize])> = s.chunks(Backend::Postgres, &rows).collect();
            let flat: Vec<usize> = chunks.iter().flat_map(|(_, c)| c.iter().copied()).collect();
            assert_eq!(flat, rows);
            assert!(
                chunks.len() <= n / 256 + 8,
                "{n} rows in {} statements",
                chunks.len()
            );
            for (sql, c) in chunks {
                assert_eq!(sql.matches('$').count(), c.len());
            }
            for (sql, c) in s.chunks(Backend::Sqlite, &rows) {
                assert_eq!(sql.matches('?').count(), c.len());
            }
        }
    }
}
