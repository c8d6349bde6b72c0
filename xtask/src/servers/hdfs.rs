//! A real single-node HDFS for the tests: an Apache Hadoop 2.7.3 NameNode and DataNode on
//! 127.0.0.1, run from the server jars inside the PyPI sdist `pyspark==2.4.8` on the machine's
//! Java (17 works with a few `--add-opens`).
//!
//! * The jars (about 70 of the sdist's 227: Hadoop and its runtime dependencies, no Spark) are
//!   extracted once into `~/.cache/ferry/hdfs-2.7.3/jars`; the 217 MB sdist is deleted after.
//! * Each run formats a fresh NameNode under `target/test-servers/hdfs` with free ports and a
//!   1 MiB block size, so that multi-block files are cheap to test.
//! * The DataNode runs under a tiny supervisor shell loop that restarts it when it dies: the
//!   "DataNode killed mid-write" test kills it (`FERRY_TEST_HDFS_DATANODE_PID_FILE`) and the
//!   cluster heals for the tests after it.
//! * `FERRY_TEST_HDFS_SHELL` is a script running Hadoop's own FsShell against the cluster
//!   (`$FERRY_TEST_HDFS_SHELL -checksum hdfs://…` gives the reference file checksum).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

use super::{free_port, venv, wait_for_port, Paths, Server};
use crate::util;

/// The test cluster's block size: small, so that a few MiB make a multi-block file.
pub const BLOCK_SIZE: u64 = 1024 * 1024;

/// Jars of the sdist that HDFS needs (name prefixes): Hadoop and its runtime dependencies.
const JAR_PREFIXES: &[&str] = &[
    "hadoop-",
    "commons-",
    "guava-",
    "protobuf-java-",
    "htrace-core-",
    "jetty-",
    "jackson-core-asl-",
    "jackson-mapper-asl-",
    "jackson-jaxrs-",
    "jackson-xc-",
    "log4j-1",
    "slf4j-",
    "servlet-api-",
    "javax.servlet-api-",
    "jsr305-",
    "xmlenc-",
    "xercesImpl-",
    "netty-3",
    "netty-all-",
    "avro-1",
    "paranamer-",
    "snappy-java-",
    "javax.ws.rs-api-",
    "api-",
    "httpclient-4",
    "httpcore-4",
    "zookeeper-",
    "curator-",
    "leveldbjni-all-",
    "jsp-api-",
    "stax-api-",
    "activation-",
    "jaxb-api-",
    "gson-",
];

/// JVM flags for Hadoop 2.7 on Java 17.
const JAVA_OPTS: &[&str] = &[
    "--add-opens=java.base/java.lang=ALL-UNNAMED",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
    "--add-opens=java.base/java.util=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/java.net=ALL-UNNAMED",
    "-Djava.net.preferIPv4Stack=true",
];

/// The Hadoop jars, downloaded and extracted once into the cache.
pub fn jars(cache: &Path) -> Result<PathBuf> {
    let home = cache.join("hdfs-2.7.3");
    let jars = home.join("jars");
    let marker = jars.join(".complete");
    if marker.exists() {
        return Ok(jars);
    }
    let dl = home.join("dl");
    std::fs::create_dir_all(&dl)?;
    let sdist = dl.join("pyspark-2.4.8.tar.gz");
    if !sdist.exists() {
        eprintln!("xtask: downloading pyspark==2.4.8 (217 MB) for the Hadoop 2.7.3 jars");
        // Its setup.py needs bdist_wheel; without build isolation pip uses the venv's own.
        let tools = venv(cache, "pip-download", &["wheel", "setuptools<70"])?;
        util::run(
            Command::new(tools.join("bin/pip"))
                .args(["download", "-q", "--disable-pip-version-check", "--no-deps"])
                .args(["--no-build-isolation", "-d"])
                .arg(&dl)
                .arg("pyspark==2.4.8"),
        )?;
    }
    util::run(
        Command::new("tar")
            .arg("xzf")
            .arg(&sdist)
            .arg("-C")
            .arg(&dl)
            .args(["--wildcards", "*/deps/jars/*"]),
    )?;
    let extracted = dl.join("pyspark-2.4.8/deps/jars");
    let _ = std::fs::remove_dir_all(&jars);
    std::fs::create_dir_all(&jars)?;
    let mut count = 0;
    for entry in std::fs::read_dir(&extracted).context("the sdist has no deps/jars")? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".jar") && JAR_PREFIXES.iter().any(|p| name.starts_with(p)) {
            std::fs::copy(entry.path(), jars.join(&name))?;
            count += 1;
        }
    }
    if !jars.join("hadoop-hdfs-2.7.3.jar").exists() {
        bail!("hadoop-hdfs-2.7.3.jar is not in the pyspark 2.4.8 sdist");
    }
    let _ = std::fs::remove_dir_all(&dl);
    std::fs::write(&marker, format!("{count} jars\n"))?;
    Ok(jars)
}

/// Free ports of one cluster.
struct Ports {
    rpc: u16,
    http: u16,
    dn_xfer: u16,
    dn_http: u16,
    dn_ipc: u16,
}

fn property(name: &str, value: impl std::fmt::Display) -> String {
    format!(" <property><name>{name}</name><value>{value}</value></property>\n")
}

fn write_conf(home: &Path, ports: &Ports, block_size: u64) -> Result<PathBuf> {
    let conf = home.join("conf");
    for app in ["hdfs", "datanode"] {
        let dir = conf.join("webapps").join(app).join("WEB-INF");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("web.xml"), "<web-app/>\n")?;
    }
    std::fs::create_dir_all(conf.join("webapps/static"))?;
    let core = [
        property("fs.defaultFS", format!("hdfs://127.0.0.1:{}", ports.rpc)),
        property("hadoop.tmp.dir", home.join("tmp").display()),
    ];
    std::fs::write(
        conf.join("core-site.xml"),
        format!("<configuration>\n{}</configuration>\n", core.concat()),
    )?;
    let hdfs = [
        property("dfs.namenode.name.dir", home.join("name").display()),
        property("dfs.datanode.data.dir", home.join("data").display()),
        property("dfs.replication", 1),
        property("dfs.blocksize", block_size),
        property(
            "dfs.namenode.rpc-address",
            format!("127.0.0.1:{}", ports.rpc),
        ),
        property(
            "dfs.namenode.http-address",
            format!("127.0.0.1:{}", ports.http),
        ),
        property(
            "dfs.datanode.address",
            format!("127.0.0.1:{}", ports.dn_xfer),
        ),
        property(
            "dfs.datanode.http.address",
            format!("127.0.0.1:{}", ports.dn_http),
        ),
        property(
            "dfs.datanode.ipc.address",
            format!("127.0.0.1:{}", ports.dn_ipc),
        ),
        property(
            "dfs.namenode.datanode.registration.ip-hostname-check",
            false,
        ),
        property("dfs.permissions.enabled", true),
        property("dfs.webhdfs.enabled", false),
        property("dfs.namenode.safemode.extension", 0),
        // A restarted DataNode re-registers fast.
        property("dfs.heartbeat.interval", 1),
    ];
    std::fs::write(
        conf.join("hdfs-site.xml"),
        format!("<configuration>\n{}</configuration>\n", hdfs.concat()),
    )?;
    std::fs::write(
        conf.join("log4j.properties"),
        "log4j.rootLogger=WARN,console\n\
         log4j.appender.console=org.apache.log4j.ConsoleAppender\n\
         log4j.appender.console.layout=org.apache.log4j.PatternLayout\n\
         log4j.appender.console.layout.ConversionPattern=%d %p %c{2}: %m%n\n\
         log4j.logger.org.apache.hadoop.hdfs.server=INFO\n",
    )?;
    Ok(conf)
}

/// `java <opts> -cp <classpath> <class> <args>` as shell words, for the scripts.
fn java_line(home: &Path, classpath: &str, heap: &str, class: &str) -> String {
    format!(
        "exec java -Xmx{heap} {} -Dhadoop.log.dir='{}' -cp '{classpath}' {class}",
        JAVA_OPTS.join(" "),
        home.join("logs").display()
    )
}

fn script(path: &Path, body: &str) -> Result<()> {
    std::fs::write(path, format!("#!/bin/sh\n{body}\n"))?;
    util::run(Command::new("chmod").arg("+x").arg(path))
}

/// Starts the tests' cluster (1 MiB blocks) under `work/hdfs`.
pub fn start(paths: &Paths) -> Result<Server> {
    start_cluster(paths, "hdfs", BLOCK_SIZE)
}

/// Starts a fresh NameNode and a supervised DataNode under `work/<name>` with `block_size`;
/// returns when the DataNode is registered and the NameNode is out of safe mode.
pub fn start_cluster(paths: &Paths, name: &'static str, block_size: u64) -> Result<Server> {
    if Command::new("java")
        .arg("-version")
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        bail!("the HDFS test server needs `java` (Debian: apt-get install default-jre-headless)");
    }
    let jars = jars(&paths.cache)?;
    let home = paths.work.join(name);
    let _ = std::fs::remove_dir_all(&home);
    for dir in ["name", "data", "logs", "tmp", "bin"] {
        std::fs::create_dir_all(home.join(dir))?;
    }
    let ports = Ports {
        rpc: free_port()?,
        http: free_port()?,
        dn_xfer: free_port()?,
        dn_http: free_port()?,
        dn_ipc: free_port()?,
    };
    let conf = write_conf(&home, &ports, block_size)?;
    let classpath = format!("{}:{}/*", conf.display(), jars.display());
    let bin = home.join("bin");

    let namenode = bin.join("namenode");
    script(
        &namenode,
        &java_line(
            &home,
            &classpath,
            "512m",
            "org.apache.hadoop.hdfs.server.namenode.NameNode \"$@\"",
        ),
    )?;
    // The DataNode's supervisor: restarts it when it dies (the kill test), stops it on TERM.
    let datanode = bin.join("datanode");
    script(
        &datanode,
        &java_line(
            &home,
            &classpath,
            "512m",
            "org.apache.hadoop.hdfs.server.datanode.DataNode",
        ),
    )?;
    let supervisor = bin.join("datanode-supervisor");
    let pid_file = home.join("dn.pid");
    script(
        &supervisor,
        &format!(
            "trap 'kill $pid 2>/dev/null; wait $pid; exit 0' TERM INT\n\
             while :; do\n  '{dn}' >>'{log}' 2>&1 &\n  pid=$!\n  echo $pid >'{pid_file}'\n  \
             wait $pid\n  echo \"supervisor: DataNode $pid exited; restarting\" >>'{log}'\n  \
             sleep 0.5\ndone",
            dn = datanode.display(),
            log = home.join("dn.log").display(),
            pid_file = pid_file.display(),
        ),
    )?;
    let shell = bin.join("hdfs-shell");
    script(
        &shell,
        &java_line(
            &home,
            &classpath,
            "256m",
            "-XX:TieredStopAtLevel=1 org.apache.hadoop.fs.FsShell \"$@\"",
        ),
    )?;

    let format_log = home.join("format.log");
    let log = std::fs::File::create(&format_log)?;
    let status = Command::new(&namenode)
        .args(["-format", "-nonInteractive", "-force"])
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()?;
    if !status.success() {
        bail!(
            "formatting the NameNode failed; see {}",
            format_log.display()
        );
    }
    let nn_log = home.join("nn.log");
    let log = std::fs::File::create(&nn_log)?;
    let nn = Command::new(&namenode)
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()
        .context("start the NameNode")?;
    let dn = Command::new(&supervisor)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .stdin(Stdio::null())
        .spawn()
        .context("start the DataNode")?;
    let server = Server {
        name,
        env: vec![
            (
                "FERRY_TEST_HDFS_URL".into(),
                format!("hdfs://127.0.0.1:{}", ports.rpc),
            ),
            (
                "FERRY_TEST_HDFS_CONF_DIR".into(),
                conf.display().to_string(),
            ),
            ("FERRY_TEST_HDFS_SHELL".into(), shell.display().to_string()),
            (
                "FERRY_TEST_HDFS_DATANODE_PID_FILE".into(),
                pid_file.display().to_string(),
            ),
            ("FERRY_TEST_HDFS_BLOCK_SIZE".into(), block_size.to_string()),
            // For Flink to read and write hdfs:// itself: Hadoop's jars and this cluster's conf.
            (
                "FERRY_TEST_HADOOP_CLASSPATH".into(),
                format!("{}/*:{}", jars.display(), conf.display()),
            ),
        ],
        processes: vec![dn, nn],
        workdir: home.clone(),
    };
    wait_for_port(ports.rpc, Duration::from_secs(90), &nn_log)?;
    wait_for_port(ports.dn_xfer, Duration::from_secs(90), &home.join("dn.log"))?;
    wait_until_ready(ports.http, Duration::from_secs(90), &nn_log)?;
    Ok(server)
}

/// Polls the NameNode's JMX until a DataNode is live and safe mode is off.
pub fn wait_until_ready(http_port: u16, timeout: Duration, log: &Path) -> Result<()> {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        let live = jmx(http_port, "Hadoop:service=NameNode,name=FSNamesystemState");
        let info = jmx(http_port, "Hadoop:service=NameNode,name=NameNodeInfo");
        if let (Ok(live), Ok(info)) = (&live, &info) {
            let datanodes = live.contains("\"NumLiveDataNodes\" : 1");
            let safe_mode_off = info.contains("\"Safemode\" : \"\"");
            if datanodes && safe_mode_off {
                return Ok(());
            }
            last = format!("live DataNode: {datanodes}, safe mode off: {safe_mode_off}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!(
        "HDFS is not ready after {timeout:?} ({last}); see {}",
        log.display()
    )
}

/// One JMX bean of the NameNode's web server, as text.
fn jmx(port: u16, query: &str) -> Result<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    write!(
        stream,
        "GET /jmx?qry={query} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
    )?;
    let mut body = String::new();
    stream.read_to_string(&mut body)?;
    Ok(body)
}
