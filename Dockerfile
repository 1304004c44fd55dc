# syntax=docker/dockerfile:1
# Multi-stage: build with the toolchain (better-sqlite3 compiles), run as the unprivileged `node` user on Node 24
# LTS (package.json `engines`). Alone on SQLite: docker run -v modelriver-data:/app/data -e MODELRIVER_API_KEY=...
# -e MODELRIVER_WEBHOOK_SECRET=... -e REALTIME_TOKEN_SECRET=... -p 3000:3000 <image>
FROM node:24-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json nest-cli.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:24-bookworm-slim AS runtime
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
WORKDIR /app
# The embedded profile keeps its SQLite file in /app/data (DATABASE_URL=sqlite:./data/modelriver.db): owned by
# the user the app runs as, and a volume so it outlives the container.
RUN mkdir -p /app/data && chown node:node /app/data
VOLUME ["/app/data"]
COPY --from=build --chown=node:node /app/node_modules ./node_modules
COPY --from=build --chown=node:node /app/dist ./dist
COPY --chown=node:node package.json ./
COPY --chown=node:node public ./public
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD ["node", "-e", "fetch('http://127.0.0.1:3000/health/ready').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/main.js"]
