//! A scenario's data rows, as the coordinator shipped them: each row made
//! a template value once (iterations share it, nothing is copied per
//! request), handed out in the spec's order.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use loadlab_proto::v1;
use minijinja::Value;

/// A data row as templates see it: a map of its columns' values.
#[derive(Debug)]
pub struct Row {
    /// The file's columns (one list for every row).
    columns: Arc<[String]>,
    values: Box<[String]>,
}

impl Row {
    /// The value of column `column` (by its place in the file's header).
    pub fn value(&self, column: usize) -> Option<&str> {
        self.values.get(column).map(String::as_str)
    }
}

impl minijinja::value::Object for Row {
    fn repr(self: &Arc<Self>) -> minijinja::value::ObjectRepr {
        minijinja::value::ObjectRepr::Map
    }

    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let name = key.as_str()?;
        let at = self.columns.iter().position(|c| c == name)?;
        Some(Value::from(self.values[at].as_str()))
    }

    fn enumerate(self: &Arc<Self>) -> minijinja::value::Enumerator {
        minijinja::value::Enumerator::Values(
            self.columns
                .iter()
                .map(|c| Value::from(c.as_str()))
                .collect(),
        )
    }
}

/// How rows are handed to iterations.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Order {
    /// In file order, from one sequence the workload's users share,
    /// wrapping around (this agent's share of the file when it has
    /// companions: rows `share`, `share + shares`, ...).
    Sequential,
    /// Drawn at random.
    Random,
    /// Each row to one iteration; none left ends the workload.
    Unique,
}

/// The rows of a workload.
#[derive(Debug)]
pub struct Data {
    /// The file's columns, in its order.
    pub columns: Arc<[String]>,
    rows: Vec<Value>,
    order: Order,
    share: u64,
    shares: u64,
    next: AtomicU64,
    /// The file's name, for messages.
    pub file: String,
}

impl Data {
    pub fn from_wire(wire: &v1::DataRows) -> Result<Data, String> {
        let columns: Arc<[String]> = wire.columns.clone().into();
        let mut rows = Vec::with_capacity(wire.rows.len());
        for (n, row) in wire.rows.iter().enumerate() {
            if row.values.len() != wire.columns.len() {
                return Err(format!(
                    "data row {n} has {} values for {} columns",
                    row.values.len(),
                    wire.columns.len()
                ));
            }
            rows.push(Value::from_object(Row {
                columns: columns.clone(),
                values: row.values.clone().into_boxed_slice(),
            }));
        }
        let order = match v1::DataOrder::try_from(wire.order) {
            Ok(v1::DataOrder::Sequential) => Order::Sequential,
            Ok(v1::DataOrder::Random) => Order::Random,
            Ok(v1::DataOrder::Unique) => Order::Unique,
            Err(_) => return Err(format!("unknown data order {}", wire.order)),
        };
        Ok(Data {
            columns,
            rows,
            order,
            share: wire.share,
            shares: wire.shares.max(1),
            next: AtomicU64::new(0),
            file: wire.file.clone(),
        })
    }

    /// The next iteration's row; `None` when a unique order has used every
    /// row (or there are none).
    pub fn next(&self) -> Option<Value> {
        let len = self.rows.len() as u64;
        if len == 0 {
            return None;
        }
        let at = match self.order {
            Order::Random => rand::random_range(0..len),
            Order::Sequential => {
                let n = self.next.fetch_add(1, Ordering::Relaxed);
                // This agent's rows of the file, in order, then around again.
                let own = if self.share < len {
                    (len - self.share).div_ceil(self.shares)
                } else {
                    0
                };
                if own == 0 {
                    n % len
                } else {
                    self.share + (n % own) * self.shares
                }
            }
            Order::Unique => {
                let n = self.next.fetch_add(1, Ordering::Relaxed);
                if n >= len {
                    return None;
                }
                n
            }
        };
        self.rows.get(at as usize).cloned()
    }

    /// Why iterations stopped starting, once a unique order ran out.
    pub fn ran_out(&self) -> String {
        format!(
            "the {} rows of {} ran out (order: unique uses each row once)",
            self.rows.len(),
            self.file
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(order: v1::DataOrder, rows: u64, share: u64, shares: u64) -> v1::DataRows {
        v1::DataRows {
            columns: vec!["n".into()],
            rows: (0..rows)
                .map(|n| v1::Row {
                    values: vec![n.to_string()],
                })
                .collect(),
            order: order.into(),
            share,
            shares,
            file: "rows.csv".into(),
        }
    }

    fn n(value: Value) -> String {
        value.get_attr("n").unwrap().to_string()
    }

    #[test]
    fn sequential_walks_this_agents_share_in_file_order_and_wraps() {
        let data = Data::from_wire(&wire(v1::DataOrder::Sequential, 5, 0, 1)).unwrap();
        let got: Vec<String> = (0..7).map(|_| n(data.next().unwrap())).collect();
        assert_eq!(got, ["0", "1", "2", "3", "4", "0", "1"]);
        let second = Data::from_wire(&wire(v1::DataOrder::Sequential, 5, 1, 2)).unwrap();
        let got: Vec<String> = (0..3).map(|_| n(second.next().unwrap())).collect();
        assert_eq!(got, ["1", "3", "1"]);
    }

    #[test]
    fn unique_uses_each_row_once_then_runs_out() {
        let data = Data::from_wire(&wire(v1::DataOrder::Unique, 3, 0, 1)).unwrap();
        let got: Vec<String> = (0..3).map(|_| n(data.next().unwrap())).collect();
        assert_eq!(got, ["0", "1", "2"]);
        assert!(data.next().is_none());
        assert!(data.ran_out().contains("the 3 rows of rows.csv ran out"));
    }

    #[test]
    fn random_draws_rows_of_the_file() {
        let data = Data::from_wire(&wire(v1::DataOrder::Random, 4, 0, 1)).unwrap();
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            seen.insert(n(data.next().unwrap()));
        }
        assert_eq!(seen.len(), 4, "{seen:?}");
    }
}
