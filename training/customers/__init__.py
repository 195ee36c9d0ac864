"""Customers' purchase sequences: samples as known at each origin, the team's first baselines
and the multi-task sequence model.

* `data`: samples from the published customer marts (`customer_purchases`, `customer_weeks`,
  `line_prices`): a customer's lines before an origin (the close of a week), the RFM row of
  the last closed week, and the targets of the customer's next order (its items, units,
  revenue and mean discount). Train, validation and test origins never see later lines.
* `baselines`: most popular items, the customer's own last items, item-to-item co-purchase.
* `model`: product embeddings, bidirectional LSTM + multi-head attention over the sequence,
  temporal comparison branches (week / month / quarter / year aggregates), a customer feature
  encoder, a region embedding; heads for the next product (cross-entropy), quantity, revenue
  and discount (smooth L1); AdamW, cosine warm restarts, gradient clipping, early stopping
  (torch + lightning, imported only there).
* `evaluate`: recall@10, MRR, quantity / revenue / discount MAE of every method on the same
  held-out weeks (benchmarks/bench_customers.py prints the table).
"""
