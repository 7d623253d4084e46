use std::path::Path;

use wotemu_collector::dataset::read_table;
use wotemu_contract::{Manifest, Table};
use wotemu_testkit::compare;
use wotemu_testkit::load::Loaded;

/// The accounting rule: every task balanced, totals the sum of tasks, rows written = rows in the tables.
pub(crate) fn assert_accounting(m: &Manifest, dir: &Path) {
    let mut sum = wotemu_contract::manifest::TaskAccounting::default();
    for (task, acc) in &m.accounting.tasks {
        assert!(
            acc.balanced(),
            "accounting of {task} does not balance: {acc:?}"
        );
        sum.add(acc);
    }
    assert_eq!(sum, m.accounting.totals, "totals are the sum of the tasks");
    let rows: u64 = Table::ALL
        .into_iter()
        .filter(|t| *t != Table::Tasks)
        .map(|t| {
            read_table(dir, t)
                .unwrap()
                .iter()
                .map(|b| b.num_rows() as u64)
                .sum::<u64>()
        })
        .sum();
    assert_eq!(
        rows, m.accounting.totals.records_written,
        "rows in the tables = records written"
    );
    for t in Table::ALL {
        assert!(dir.join(t.file_name()).exists(), "{t} file exists");
    }
}

/// Asserts that the dataset holds exactly the loaded records, once, sorted by (task, time).
pub(crate) fn assert_dataset_matches(dir: &Path, loaded: &Loaded) {
    for table in wotemu_testkit::load::STREAMED {
        let batches: Vec<_> = loaded
            .batches
            .iter()
            .flat_map(|(_, entries)| {
                entries
                    .iter()
                    .filter(|e| e.table == table)
                    .map(|e| e.batch.clone())
            })
            .collect();
        let want = compare::expected(table, &batches);
        let got = compare::concat(table, &read_table(dir, table).unwrap());
        compare::assert_same(table, &got, &want);
    }
}
