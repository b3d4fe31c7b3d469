//! "Did you mean": the known name closest to a misspelt one, for the
//! messages that refuse an unknown task, operator or other enumeration.

/// The name within edit distance 2 of `name`, if any.
pub(crate) fn closest<'a>(name: &str, names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    names
        .map(|candidate| (distance(name, candidate), candidate))
        .filter(|(d, _)| *d <= 2)
        .min()
        .map(|(_, candidate)| candidate)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb)).min(row[j] + 1).min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_near_name_is_suggested_and_a_far_one_is_not() {
        let names = ["equals", "contains", "regex"];
        assert_eq!(super::closest("equal", names.into_iter()), Some("equals"));
        assert_eq!(super::closest("regx", names.into_iter()), Some("regex"));
        assert_eq!(super::closest("between", names.into_iter()), None);
    }
}
