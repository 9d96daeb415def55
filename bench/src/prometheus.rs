//! Reading the product's `/metrics` (Prometheus text exposition).

/// The samples of `metric` that carry labels: each line's labels (`k="v",…`) and value.
pub fn labelled<'a>(text: &'a str, metric: &'a str) -> impl Iterator<Item = (&'a str, f64)> + 'a {
    text.lines().filter_map(move |line| {
        let (labels, value) = line
            .strip_prefix(metric)?
            .strip_prefix('{')?
            .split_once("} ")?;
        Some((labels, value.trim().parse().ok()?))
    })
}

/// The value of label `name` in a sample's labels.
pub fn label<'a>(labels: &'a str, name: &str) -> Option<&'a str> {
    labels.split(',').find_map(|kv| {
        kv.strip_prefix(name)?
            .strip_prefix("=\"")?
            .strip_suffix('"')
    })
}
