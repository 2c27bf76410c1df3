//! Multi-row `INSERT`s of a few fixed widths, for the batch writers (the message id map, the
//! archive). One statement per row cost a round trip to the database's thread per row (sqlx
//! runs SQLite on a thread of its own); one statement as wide as the batch was new text for
//! every batch, prepared anew each time (slower, measured). Cutting a batch into statements
//! of 16, 8, 4, 2 and 1 rows keeps five texts, each prepared once per connection, and any
//! batch of `n` rows takes at most `n / 16 + 4` statements.

/// The widths a batch is cut into, widest first.
pub(crate) const WIDTHS: [usize; 5] = [16, 8, 4, 2, 1];

/// The statements of one kind of insert, one per width of [`WIDTHS`].
pub(crate) struct Inserts([String; WIDTHS.len()]);

impl Inserts {
    /// `head`, then ` VALUES ($1, ..., $cols), (...)` with as many tuples as each width,
    /// then `tail` (an `ON CONFLICT` clause).
    pub(crate) fn new(head: &str, cols: usize, tail: &str) -> Inserts {
        Inserts(WIDTHS.map(|rows| {
            let mut sql = String::with_capacity(head.len() + tail.len() + rows * cols * 5 + 16);
            sql.push_str(head);
            sql.push_str(" VALUES ");
            for r in 0..rows {
                sql.push_str(if r == 0 { "(" } else { ", (" });
                for c in 0..cols {
                    if c > 0 {
                        sql.push_str(", ");
                    }
                    sql.push('$');
                    sql.push_str(&(r * cols + c + 1).to_string());
                }
                sql.push(')');
            }
            sql.push(' ');
            sql.push_str(tail);
            sql
        }))
    }

    /// `rows` cut into chunks of [`WIDTHS`], each with the statement that inserts it.
    pub(crate) fn chunks<'s, 'a, T>(
        &'s self,
        rows: &'a [T],
    ) -> impl Iterator<Item = (&'s str, &'a [T])> + use<'s, 'a, T> {
        let mut rest = rows;
        std::iter::from_fn(move || {
            let (i, width) = WIDTHS.iter().enumerate().find(|(_, w)| **w <= rest.len())?;
            let (chunk, tail) = rest.split_at(*width);
            rest = tail;
            Some((self.0[i].as_str(), chunk))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_number_their_parameters_row_after_row() {
        let s = Inserts::new("INSERT INTO t (a, b)", 2, "ON CONFLICT DO NOTHING");
        assert_eq!(
            s.0[WIDTHS.len() - 2],
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) ON CONFLICT DO NOTHING"
        );
        assert_eq!(
            s.0[WIDTHS.len() - 1],
            "INSERT INTO t (a, b) VALUES ($1, $2) ON CONFLICT DO NOTHING"
        );
        assert!(s.0[0].ends_with("($31, $32) ON CONFLICT DO NOTHING"));
    }

    #[test]
    fn batches_are_cut_widest_first_and_nothing_is_left_out() {
        let s = Inserts::new("INSERT INTO t (a)", 1, "");
        for n in 0..100usize {
            let rows: Vec<usize> = (0..n).collect();
            let chunks: Vec<(&str, &[usize])> = s.chunks(&rows).collect();
            let flat: Vec<usize> = chunks.iter().flat_map(|(_, c)| c.iter().copied()).collect();
            assert_eq!(flat, rows);
            assert!(
                chunks.len() <= n / 16 + 4,
                "{n} rows in {} statements",
                chunks.len()
            );
            for (sql, c) in chunks {
                assert_eq!(sql.matches('$').count(), c.len());
            }
        }
    }
}
