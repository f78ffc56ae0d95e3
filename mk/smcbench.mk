# smcbench: the demo step (embedded-corpus tasks), run after the m2bert demo that exports its encoder.
DEMO_MODULES += smcbench.demo
