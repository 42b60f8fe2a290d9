"""What the test groups share: helpers, the live-lab driver, the chaos driver, the docs checks."""
