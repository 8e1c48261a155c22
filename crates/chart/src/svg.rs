//! Reading a drawn SVG back, for checks: plotters' SVG backend writes every
//! label as one `<text ...>label</text>` element.

/// The texts of an SVG's `<text>` elements, in document order, trimmed.
pub fn texts(svg: &str) -> Vec<String> {
    svg.split("<text")
        .skip(1)
        .filter_map(|t| {
            let body = &t[t.find('>')? + 1..];
            Some(body[..body.find("</text>")?].trim().to_string())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn texts_in_order_and_nothing_else() {
        let svg = r#"<svg><rect/><text x="1" y="2">
            Throughput </text><line/><text>p99</text><text>unclosed</svg>"#;
        assert_eq!(super::texts(svg), ["Throughput", "p99"]);
    }
}
