package ferry;

import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.api.java.functions.KeySelector;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.runtime.util.EnvironmentInformation;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

import java.io.FileOutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.lang.reflect.Method;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;

/**
 * ferry's real-Flink test job: runs a small stateful streaming job in a local MiniCluster, takes
 * a savepoint or a retained checkpoint, or restores from one and reports what it restored.
 * Compiles and runs unchanged against Flink 1.10 … 2.3 (version differences are bridged with
 * reflection and by setting every spelling of each configuration key).
 *
 * <h2>Command line</h2>
 * <pre>
 * java $FERRY_TEST_FLINK_JAVA_OPTS -cp $FERRY_TEST_FLINK_CLASSPATH ferry.FerryJob run [OPTIONS]
 *   --records N             records the source emits in this run (default 1000; keep it a
 *                           multiple of --keys × --parallelism for exact per-key counts)
 *   --keys K                distinct keys (default 10)
 *   --parallelism P         (default 2)
 *   --backend B             hashmap | rocksdb (default hashmap)
 *   --incremental           incremental checkpoints (RocksDB)
 *   --checkpoint-dir URI    enable checkpoints, retained on cancellation, under URI/&lt;job id&gt;/chk-N
 *   --checkpoint-interval MS  (default 200)
 *   --savepoint-dir URI     where savepoints go (also the checkpoint storage directory when
 *                           --checkpoint-dir is not given: Flink then creates an empty
 *                           URI/&lt;job id&gt;/ there)
 *   --inline-threshold BYTES  state smaller than this is inlined into _metadata (Flink's
 *                           memory threshold); 0 puts every state in a file
 *   --take WHAT             none | savepoint | native-savepoint | checkpoint | checkpoint-early
 *                           (default none). "checkpoint" waits for a completed checkpoint taken
 *                           after every record was processed; "checkpoint-early" takes the first
 *                           completed checkpoint (used with --slow-micros for channel state)
 *   --unaligned             unaligned checkpoints
 *   --changelog DIR_URI     changelog state backend with its DSTL files under DIR_URI
 *   --file-merging          checkpoint file merging (Flink 1.20+)
 *   --slow-micros N         busy-wait N µs per record in the counter (backpressure)
 *   --restore PATH          restore from this savepoint/checkpoint (directory or _metadata)
 *   --claim-mode M          claim | no-claim | legacy (default: Flink's default)
 *   --allow-non-restored    allow state that maps to no operator
 *   --report FILE           write the JSON report there (default: stdout)
 *   --timeout-seconds N     (default 120)
 *   -D key=value            any other Flink configuration (repeatable)
 * java … ferry.FerryJob version     prints the Flink version
 * java … ferry.FerryJob serve [OPTIONS]   as run, but in a MiniCluster serving Flink's REST API
 *                           on 127.0.0.1 (a free port): once --records are processed it prints
 *                           FERRY_REST=http://127.0.0.1:PORT and FERRY_JOB=&lt;job id&gt; on stdout
 *                           and keeps the cluster up (the job running, until something stops
 *                           it over REST) until its standard input is closed or
 *                           --timeout-seconds pass; then it cancels the job and exits 0.
 *                           --take is ignored. Extra option:
 *   --slow-snapshot-ms N    each source subtask sleeps N ms while snapshotting its state
 *                           (savepoints and checkpoints take that long)
 * </pre>
 *
 * <h2>The job</h2>
 * Source (uid {@code ferry-source}, operator ListState with per-lane offsets) → keyBy(value %
 * keys) → {@link Counter} (uid {@code ferry-counter}: ValueState, MapState, ListState, timers,
 * union operator state). The source emits consecutive numbers continuing from restored offsets,
 * so after restoring a snapshot taken when every key had count c, every key's restored count is
 * c (never 0).
 *
 * <h2>Report</h2>
 * One JSON object: {@code flink_version}, {@code job_id}, {@code snapshot} (the savepoint or
 * checkpoint directory taken, or null), {@code emitted}, {@code processed},
 * {@code restored_offsets} (lane → offset), {@code restored_counts} (key → count found in state
 * the first time the key was seen; 0 when not restored), {@code restored_list_sizes},
 * {@code restored_map_sizes}, {@code restored_timers} (key → bool), {@code final_counts}.
 * The last stdout line is {@code FERRY_SNAPSHOT=<path>} when a snapshot was taken.
 * Exit status: 0 ok, 1 usage, 2 the job failed (e.g. a restore could not read state), 3 timeout.
 */
public final class FerryJob {
    private FerryJob() {}

    private static final class Options {
        long records = 1000;
        int keys = 10;
        int parallelism = 2;
        String backend = "hashmap";
        boolean incremental;
        String checkpointDir;
        long checkpointInterval = 200;
        String savepointDir;
        String inlineThreshold;
        String take = "none";
        boolean unaligned;
        String changelogDir;
        boolean fileMerging;
        long slowMicros;
        String restore;
        String claimMode;
        boolean allowNonRestored;
        String report;
        long timeoutSeconds = 120;
        long slowSnapshotMs;
        final Map<String, String> extra = new LinkedHashMap<>();
    }

    public static void main(String[] args) throws Exception {
        if (args.length == 0) {
            usage("missing command");
        }
        if (args[0].equals("version")) {
            System.out.println(EnvironmentInformation.getVersion());
            System.exit(0);
        }
        if (!args[0].equals("run") && !args[0].equals("serve")) {
            usage("unknown command " + args[0]);
        }
        Options o = parse(args);
        int code;
        try {
            code = args[0].equals("serve") ? serve(o) : run(o);
        } catch (Throwable t) {
            System.err.println("ferry-job: error: " + t);
            t.printStackTrace();
            code = 2;
        }
        System.out.flush();
        System.exit(code);
    }

    private static void usage(String why) {
        System.err.println("ferry-job: " + why + " (see the class comment of ferry.FerryJob)");
        System.exit(1);
    }

    private static Options parse(String[] args) {
        Options o = new Options();
        for (int i = 1; i < args.length; i++) {
            String a = args[i];
            switch (a) {
                case "--incremental": o.incremental = true; continue;
                case "--unaligned": o.unaligned = true; continue;
                case "--file-merging": o.fileMerging = true; continue;
                case "--allow-non-restored": o.allowNonRestored = true; continue;
                default: break;
            }
            if (i + 1 >= args.length) {
                usage("missing value after " + a);
            }
            String v = args[++i];
            switch (a) {
                case "--records": o.records = Long.parseLong(v); break;
                case "--keys": o.keys = Integer.parseInt(v); break;
                case "--parallelism": o.parallelism = Integer.parseInt(v); break;
                case "--backend": o.backend = v; break;
                case "--checkpoint-dir": o.checkpointDir = v; break;
                case "--checkpoint-interval": o.checkpointInterval = Long.parseLong(v); break;
                case "--savepoint-dir": o.savepointDir = v; break;
                case "--inline-threshold": o.inlineThreshold = v; break;
                case "--take": o.take = v; break;
                case "--changelog": o.changelogDir = v; break;
                case "--slow-micros": o.slowMicros = Long.parseLong(v); break;
                case "--slow-snapshot-ms": o.slowSnapshotMs = Long.parseLong(v); break;
                case "--restore": o.restore = v; break;
                case "--claim-mode": o.claimMode = v; break;
                case "--report": o.report = v; break;
                case "--timeout-seconds": o.timeoutSeconds = Long.parseLong(v); break;
                case "-D": {
                    int eq = v.indexOf('=');
                    if (eq <= 0) {
                        usage("-D needs key=value");
                    }
                    o.extra.put(v.substring(0, eq), v.substring(eq + 1));
                    break;
                }
                default: usage("unknown option " + a);
            }
        }
        if (!o.backend.equals("hashmap") && !o.backend.equals("rocksdb")) {
            usage("--backend must be hashmap or rocksdb");
        }
        return o;
    }

    private static void set(Configuration conf, String value, String... keys) {
        for (String k : keys) {
            conf.set(ConfigOptions.key(k).stringType().noDefaultValue(), value);
        }
    }

    private static int[] flinkVersion() {
        String[] parts = EnvironmentInformation.getVersion().split("[.-]");
        int major = Integer.parseInt(parts[0]);
        int minor = parts.length > 1 ? Integer.parseInt(parts[1]) : 0;
        return new int[] {major, minor};
    }

    static Configuration configuration(Options o) {
        int[] v = flinkVersion();
        boolean before113 = v[0] == 1 && v[1] < 13;
        Configuration conf = new Configuration();
        set(conf, "0", "rest.bind-port", "rest.port");
        set(conf, "none", "restart-strategy", "restart-strategy.type");
        set(conf, Integer.toString(o.parallelism), "taskmanager.numberOfTaskSlots", "parallelism.default");
        String backend = o.backend.equals("hashmap") && before113 ? "filesystem" : o.backend;
        set(conf, backend, "state.backend", "state.backend.type");
        set(conf, Boolean.toString(o.incremental), "state.backend.incremental", "execution.checkpointing.incremental");
        // Savepoints use the checkpoint storage's stream factory: without a file-system
        // checkpoint storage, state would be inlined into _metadata whatever the threshold.
        String storageDir = o.checkpointDir != null ? o.checkpointDir : o.savepointDir;
        if (storageDir != null) {
            set(conf, storageDir, "state.checkpoints.dir", "execution.checkpointing.dir");
            if (!before113) {
                set(conf, "filesystem", "state.checkpoint-storage", "execution.checkpointing.storage");
            }
        }
        if (o.checkpointDir != null) {
            set(conf, "RETAIN_ON_CANCELLATION", "execution.checkpointing.externalized-checkpoint-retention");
            set(conf, "1", "state.checkpoints.num-retained", "execution.checkpointing.num-retained");
            set(conf, o.checkpointInterval + " ms", "execution.checkpointing.interval");
        }
        if (o.savepointDir != null) {
            set(conf, o.savepointDir, "state.savepoints.dir", "execution.checkpointing.savepoint-dir");
        }
        if (o.inlineThreshold != null) {
            set(conf, o.inlineThreshold, "state.backend.fs.memory-threshold", "state.storage.fs.memory-threshold",
                    "execution.checkpointing.data-inline-threshold");
        }
        if (o.unaligned) {
            set(conf, "true", "execution.checkpointing.unaligned", "execution.checkpointing.unaligned.enabled");
            set(conf, "0 ms", "execution.checkpointing.aligned-checkpoint-timeout",
                    "execution.checkpointing.alignment-timeout");
            set(conf, "4kb", "taskmanager.memory.segment-size");
            set(conf, "1", "taskmanager.network.memory.buffers-per-channel");
            set(conf, "2", "taskmanager.network.memory.floating-buffers-per-gate");
        }
        if (o.changelogDir != null) {
            set(conf, "true", "state.backend.changelog.enabled", "state.changelog.enabled");
            set(conf, "filesystem", "state.backend.changelog.storage", "state.changelog.storage");
            set(conf, o.changelogDir, "dstl.dfs.base-path");
            set(conf, "500 ms", "state.backend.changelog.periodic-materialize.interval",
                    "state.changelog.periodic-materialize.interval");
        }
        if (o.fileMerging) {
            set(conf, "true", "execution.checkpointing.file-merging.enabled", "state.checkpoints.file-merging.enabled");
        }
        if (o.restore != null) {
            set(conf, o.restore, "execution.savepoint.path", "execution.state-recovery.path");
            if (o.allowNonRestored) {
                set(conf, "true", "execution.savepoint.ignore-unclaimed-state",
                        "execution.state-recovery.ignore-unclaimed-state");
            }
            if (o.claimMode != null) {
                String m = o.claimMode.toUpperCase().replace('-', '_');
                set(conf, m, "execution.savepoint-restore-mode", "execution.state-recovery.claim-mode");
            }
        }
        for (Map.Entry<String, String> e : o.extra.entrySet()) {
            set(conf, e.getValue(), e.getKey());
        }
        return conf;
    }

    /** Key selector: value modulo the number of keys. */
    public static final class ByKey implements KeySelector<Long, Long> {
        private static final long serialVersionUID = 1L;
        private final int keys;

        public ByKey(int keys) {
            this.keys = keys;
        }

        @Override
        public Long getKey(Long value) {
            return value % keys;
        }
    }

    private static int run(Options o) throws Exception {
        Configuration conf = configuration(o);
        // A MiniCluster does not apply file-system settings by itself (s3a/hdfs fallbacks).
        FileSystem.initialize(conf, null);
        Shared.slowMicros = o.slowMicros;
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(o.parallelism, conf);
        env.configure(conf, Thread.currentThread().getContextClassLoader());
        if (o.checkpointDir != null) {
            env.enableCheckpointing(o.checkpointInterval);
        }
        DataStream<Long> source = FerrySource.attach(env, o.records, o.parallelism);
        source.keyBy(new ByKey(o.keys)).process(new Counter()).uid("ferry-counter").name("counter");

        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(o.timeoutSeconds);
        JobClient client;
        int[] v = flinkVersion();
        if (o.restore != null && v[0] == 1 && v[1] < 11) {
            // Flink 1.10's local executor ignores execution.savepoint.path: set the restore
            // settings on the stream graph itself.
            Object graph = env.getClass().getMethod("getStreamGraph", String.class).invoke(env, "ferry-job");
            Class<?> srs = Class.forName("org.apache.flink.runtime.jobgraph.SavepointRestoreSettings");
            Object settings = srs.getMethod("forPath", String.class, boolean.class)
                    .invoke(null, o.restore, o.allowNonRestored);
            graph.getClass().getMethod("setSavepointRestoreSettings", srs).invoke(graph, settings);
            client = (JobClient) env.getClass().getMethod("executeAsync", graph.getClass()).invoke(env, graph);
        } else {
            client = env.executeAsync("ferry-job");
        }
        JobID jobId = client.getJobID();
        System.err.println("ferry-job: started job " + jobId + " on Flink " + EnvironmentInformation.getVersion());
        String snapshot = null;
        try {
            if (o.take.equals("checkpoint-early")) {
                snapshot = awaitCheckpoint(client, o, jobId, 1, deadline);
            } else {
                while (Shared.PROCESSED.get() < o.records) {
                    checkAlive(client, deadline, "waiting for " + o.records + " records to be processed ("
                            + Shared.PROCESSED.get() + " so far)");
                    Thread.sleep(20);
                }
                switch (o.take) {
                    case "none":
                        break;
                    case "savepoint":
                    case "native-savepoint":
                        snapshot = savepoint(client, o.savepointDir, o.take.equals("native-savepoint"), deadline);
                        break;
                    case "checkpoint": {
                        while (Shared.DONE_AT_CHECKPOINT.size() < o.parallelism) {
                            checkAlive(client, deadline, "waiting for a checkpoint after the last record");
                            Thread.sleep(20);
                        }
                        long target = 0;
                        for (long id : Shared.DONE_AT_CHECKPOINT.values()) {
                            target = Math.max(target, id);
                        }
                        snapshot = awaitCheckpoint(client, o, jobId, target, deadline);
                        break;
                    }
                    default:
                        usage("unknown --take " + o.take);
                }
            }
        } catch (TimeoutException e) {
            System.err.println("ferry-job: timeout: " + e.getMessage());
            cancel(client);
            return 3;
        } catch (JobFailedException e) {
            System.err.println("ferry-job: the job failed: " + e.getMessage());
            return 2;
        }
        cancel(client);
        if (snapshot != null && o.take.startsWith("checkpoint")) {
            // A later checkpoint may have subsumed the one we saw before the cancellation.
            snapshot = latestCheckpoint(o.checkpointDir, jobId, 0);
        }
        writeReport(o, jobId, snapshot);
        if (snapshot != null) {
            System.out.println("FERRY_SNAPSHOT=" + snapshot);
        }
        return 0;
    }

    /**
     * {@code serve}: the job in a MiniCluster this JVM owns (a per-job local environment would
     * shut its cluster down as soon as the job stops, taking the REST endpoint with it), submitted
     * through the cluster's own REST endpoint, kept up until stdin closes or the timeout.
     */
    private static int serve(Options o) throws Exception {
        Configuration conf = configuration(o);
        set(conf, "127.0.0.1", "rest.address", "rest.bind-address");
        FileSystem.initialize(conf, null);
        Shared.slowMicros = o.slowMicros;
        Shared.snapshotSleepMs = o.slowSnapshotMs;
        MiniClusterConfiguration mc = new MiniClusterConfiguration.Builder()
                .setConfiguration(conf)
                .setNumTaskManagers(1)
                .setNumSlotsPerTaskManager(o.parallelism)
                .build();
        MiniCluster cluster = new MiniCluster(mc);
        cluster.start();
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(o.timeoutSeconds);
        try {
            URI rest = cluster.getRestAddress().get(60, TimeUnit.SECONDS);
            // The client must not inherit the cluster's "any free port" setting.
            Configuration clientConf = new Configuration(conf);
            set(clientConf, Integer.toString(rest.getPort()), "rest.port");
            set(clientConf, rest.getHost(), "rest.address");
            StreamExecutionEnvironment env =
                    StreamExecutionEnvironment.createRemoteEnvironment(rest.getHost(), rest.getPort(), clientConf);
            env.configure(clientConf, Thread.currentThread().getContextClassLoader());
            env.setParallelism(o.parallelism);
            if (o.checkpointDir != null) {
                env.enableCheckpointing(o.checkpointInterval);
            }
            DataStream<Long> source = FerrySource.attach(env, o.records, o.parallelism);
            source.keyBy(new ByKey(o.keys)).process(new Counter()).uid("ferry-counter").name("counter");
            JobClient client = env.executeAsync("ferry-job");
            JobID jobId = client.getJobID();
            System.err.println("ferry-job: serving job " + jobId + " on Flink " + EnvironmentInformation.getVersion()
                    + " at " + rest);
            try {
                while (Shared.PROCESSED.get() < o.records) {
                    checkAlive(client, deadline, "waiting for " + o.records + " records to be processed ("
                            + Shared.PROCESSED.get() + " so far)");
                    Thread.sleep(20);
                }
            } catch (TimeoutException e) {
                System.err.println("ferry-job: timeout: " + e.getMessage());
                return 3;
            } catch (JobFailedException e) {
                System.err.println("ferry-job: the job failed: " + e.getMessage());
                return 2;
            }
            System.out.println("FERRY_REST=http://" + rest.getHost() + ":" + rest.getPort());
            System.out.println("FERRY_JOB=" + jobId);
            System.out.flush();
            Thread stdin = new Thread(() -> {
                try {
                    while (System.in.read() >= 0) {
                        // Serve until closed.
                    }
                } catch (Exception e) {
                    // Closed.
                }
            });
            stdin.setDaemon(true);
            stdin.start();
            while (stdin.isAlive() && System.nanoTime() < deadline) {
                stdin.join(200);
            }
            cancel(client);
            writeReport(o, jobId, null);
            return 0;
        } finally {
            cluster.closeAsync().get(60, TimeUnit.SECONDS);
        }
    }

    private static final class TimeoutException extends Exception {
        private static final long serialVersionUID = 1L;

        TimeoutException(String m) {
            super(m);
        }
    }

    private static final class JobFailedException extends Exception {
        private static final long serialVersionUID = 1L;

        JobFailedException(String m) {
            super(m);
        }
    }

    private static void checkAlive(JobClient client, long deadline, String what)
            throws TimeoutException, JobFailedException {
        if (System.nanoTime() > deadline) {
            throw new TimeoutException(what);
        }
        JobStatus status;
        try {
            status = client.getJobStatus().get(30, TimeUnit.SECONDS);
        } catch (Exception e) {
            throw new JobFailedException("cannot get the job status: " + e);
        }
        if (status.isGloballyTerminalState()) {
            throw new JobFailedException("job is " + status + failureCause(client));
        }
    }

    private static String failureCause(JobClient client) {
        try {
            Method m;
            Object f;
            try {
                m = client.getClass().getMethod("getJobExecutionResult");
                f = m.invoke(client);
            } catch (NoSuchMethodException e) {
                m = client.getClass().getMethod("getJobExecutionResult", ClassLoader.class);
                f = m.invoke(client, FerryJob.class.getClassLoader());
            }
            ((java.util.concurrent.CompletableFuture<?>) f).get(30, TimeUnit.SECONDS);
            return "";
        } catch (Throwable t) {
            Throwable root = t;
            while (root.getCause() != null && root.getCause() != root) {
                root = root.getCause();
            }
            return ": " + root;
        }
    }

    private static String savepoint(JobClient client, String dir, boolean nativeFormat, long deadline)
            throws Exception {
        Object future;
        Method withFormat = null;
        for (Method m : JobClient.class.getMethods()) {
            if (m.getName().equals("triggerSavepoint") && m.getParameterCount() == 2) {
                withFormat = m;
            }
        }
        if (withFormat != null) {
            Class<?> formatType = withFormat.getParameterTypes()[1];
            Object format = formatType.getMethod("valueOf", String.class)
                    .invoke(null, nativeFormat ? "NATIVE" : "CANONICAL");
            future = withFormat.invoke(client, dir, format);
        } else {
            if (nativeFormat) {
                throw new IllegalArgumentException("native savepoints need Flink 1.15+");
            }
            future = JobClient.class.getMethod("triggerSavepoint", String.class).invoke(client, dir);
        }
        long left = Math.max(1, TimeUnit.NANOSECONDS.toSeconds(deadline - System.nanoTime()));
        return (String) ((java.util.concurrent.CompletableFuture<?>) future).get(left, TimeUnit.SECONDS);
    }

    private static String awaitCheckpoint(JobClient client, Options o, JobID jobId, long minId, long deadline)
            throws Exception {
        if (o.checkpointDir == null) {
            usage("--take checkpoint needs --checkpoint-dir");
        }
        while (true) {
            String found = latestCheckpoint(o.checkpointDir, jobId, minId);
            if (found != null) {
                return found;
            }
            checkAlive(client, deadline, "waiting for checkpoint " + minId + " to complete");
            Thread.sleep(50);
        }
    }

    /** The newest {@code chk-N} (N ≥ minId) under dir/jobId that has a {@code _metadata}, or null. */
    static String latestCheckpoint(String dir, JobID jobId, long minId) throws Exception {
        Path base = new Path(new Path(dir), jobId.toString());
        FileSystem fs = base.getFileSystem();
        if (!fs.exists(base)) {
            return null;
        }
        long best = -1;
        String bestPath = null;
        FileStatus[] entries = fs.listStatus(base);
        if (entries == null) {
            return null;
        }
        for (FileStatus st : entries) {
            String name = st.getPath().getName();
            if (!name.startsWith("chk-")) {
                continue;
            }
            long id;
            try {
                id = Long.parseLong(name.substring(4));
            } catch (NumberFormatException e) {
                continue;
            }
            if (id >= minId && id > best && fs.exists(new Path(st.getPath(), "_metadata"))) {
                best = id;
                bestPath = st.getPath().toString();
            }
        }
        return bestPath;
    }

    private static void cancel(JobClient client) {
        try {
            client.cancel().get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            // Already terminal.
        }
        for (int i = 0; i < 600; i++) {
            try {
                if (client.getJobStatus().get(10, TimeUnit.SECONDS).isGloballyTerminalState()) {
                    return;
                }
            } catch (Exception e) {
                return;
            }
            try {
                Thread.sleep(50);
            } catch (InterruptedException e) {
                return;
            }
        }
    }

    private static void writeReport(Options o, JobID jobId, String snapshot) throws Exception {
        StringBuilder b = new StringBuilder();
        b.append("{\n");
        b.append("  \"flink_version\": ").append(quote(EnvironmentInformation.getVersion())).append(",\n");
        b.append("  \"job_id\": ").append(quote(jobId.toString())).append(",\n");
        b.append("  \"snapshot\": ").append(snapshot == null ? "null" : quote(snapshot)).append(",\n");
        b.append("  \"emitted\": ").append(Shared.EMITTED.get()).append(",\n");
        b.append("  \"processed\": ").append(Shared.PROCESSED.get()).append(",\n");
        appendMap(b, "restored_offsets", Shared.RESTORED_OFFSETS, true);
        appendMap(b, "restored_counts", Shared.RESTORED_COUNTS, true);
        appendMap(b, "restored_list_sizes", Shared.RESTORED_LIST_SIZES, true);
        appendMap(b, "restored_map_sizes", Shared.RESTORED_MAP_SIZES, true);
        appendMap(b, "restored_timers", Shared.RESTORED_TIMERS, true);
        appendMap(b, "final_counts", Shared.FINAL_COUNTS, false);
        b.append("}\n");
        if (o.report == null) {
            System.out.print(b);
        } else {
            try (Writer w = new OutputStreamWriter(new FileOutputStream(o.report), StandardCharsets.UTF_8)) {
                w.write(b.toString());
            }
        }
    }

    private static void appendMap(StringBuilder b, String name, Map<?, ?> m, boolean comma) {
        Map<String, Object> sorted = new TreeMap<>((x, y) -> {
            try {
                return Long.compare(Long.parseLong(x), Long.parseLong(y));
            } catch (NumberFormatException e) {
                return x.compareTo(y);
            }
        });
        for (Map.Entry<?, ?> e : m.entrySet()) {
            sorted.put(String.valueOf(e.getKey()), e.getValue());
        }
        b.append("  ").append(quote(name)).append(": {");
        List<String> parts = new ArrayList<>();
        for (Map.Entry<String, Object> e : sorted.entrySet()) {
            parts.add(quote(e.getKey()) + ": " + e.getValue());
        }
        b.append(String.join(", ", parts)).append("}").append(comma ? ",\n" : "\n");
    }

    static String quote(String s) {
        StringBuilder b = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            if (c == '"' || c == '\\') {
                b.append('\\').append(c);
            } else if (c < 0x20) {
                b.append(String.format("\\u%04x", (int) c));
            } else {
                b.append(c);
            }
        }
        return b.append('"').toString();
    }
}
