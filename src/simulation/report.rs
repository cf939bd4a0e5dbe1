//! The simulator's results as a Markdown table.

use super::run::ScenarioResult;
use std::fmt::Write;

/// One table for every scenario: per lane the success rate, its share of the oracle's, the fees,
/// technical errors, mean latency and how the payments were spread over the accounts.
pub fn markdown(results: &[ScenarioResult]) -> String {
    let mut out = String::from(
        "| scenario | mode | success rate | share of oracle | fees ₹ | technical errors | mean latency ms | attempts per account |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for result in results {
        let s = &result.scenario;
        for lane in &result.lanes {
            let spread: Vec<String> = s
                .gateways
                .iter()
                .zip(&lane.picks)
                .map(|(g, &n)| {
                    format!(
                        "{} {:.0} %",
                        g.name,
                        100.0 * n as f64 / lane.payments.max(1) as f64
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} % | {:.1} % | {} | {} | {:.0} | {} |",
                s.name,
                lane.lane.label(),
                100.0 * lane.success_rate(),
                100.0 * result.oracle_share(lane.lane),
                rupees(lane.fees),
                lane.technical_errors,
                lane.mean_latency_ms(),
                spread.join(" · ")
            );
        }
    }
    out.push('\n');
    for r in results {
        let _ = writeln!(
            out,
            "{}: {} payments over {} simulated minutes, seed {}.",
            r.scenario.name, r.scenario.payments, r.scenario.minutes, r.scenario.seed
        );
    }
    out
}

/// Paise as rupees with two decimals and thousands separators (₹1,234,567.89).
pub fn rupees(paise: i64) -> String {
    let sign = if paise < 0 { "-" } else { "" };
    let paise = paise.unsigned_abs();
    let digits = (paise / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(c);
    }
    format!("{sign}{grouped}.{:02}", paise % 100)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rupees_group_thousands_and_keep_the_paise() {
        assert_eq!(rupees(123_456_789), "1,234,567.89");
        assert_eq!(rupees(5), "0.05");
        assert_eq!(rupees(-100_000), "-1,000.00");
    }
}
