"""Figure builders: numpy arrays and already-escaped labels in, Plotly `go.Figure` out. No Streamlit, no
torch. `layout` holds what every heatmap shares (colours, token axes, margins); one module per view."""
