# Komandrindas palīdzība latviski (field-client --help). Angliski tā ir
# avota komentāros; tests pārbauda, ka katrai komandai un opcijai ir teksts.
help-usage-heading = Lietojums:
help-commands-heading = Komandas
help-command-value = KOMANDA
help-options-heading = Opcijas
help-arguments-heading = Argumenti

help = Kopienu resursu centra žurnāls: ieraksta aktivitātes šajā datorā arī bez savienojuma un nosūta tās birojam.
help--data_dir = Mape ar šī datora žurnālu [pēc noklusējuma: sistēmas datu mape]
help--help = Parādīt palīdzību
help--version = Parādīt versiju
help-help = Parādīt šo palīdzību vai norādītās komandas palīdzību

help-init = Izveidot centra žurnālu šajā datorā
help-init--centre = Centra nosaukums, piemēram, "Daugavpils KRC"
help-init--device_name = Šī datora nosaukums, ko rāda pie ierakstiem [pēc noklusējuma: datora nosaukums]

-title = Nosaukums, piemēram, "Skolotāja loma vietējās kopienas attīstībā"
-kind = seminar, workshop, training, consultation, community_initiative, event, meeting, symposium vai other (der arī latviskie nosaukumi)
-date = Datums kā GGGG-MM-DD vai DD.MM.GGGG
-start = Sākuma laiks kā HH:MM (tukša vērtība to notīra)
-hours = Ilgums stundās, piemēram, 1.5 (tukša vērtība to notīra)
-place = Kur tā notika
-organisers = Organizators; vairākiem atkārtojiet. Labojot aizstāj sarakstu (--organiser "" to iztukšo)
-institutions = Partneriestāde, piemēram, "20.PII"; vairākām atkārtojiet. Labojot aizstāj sarakstu
-counts = Vienas grupas dalībnieki, piemēram, --count teachers=12; katrai grupai atkārtojiet
-description = Apraksts brīvā tekstā
-notes = Rezultāti un piezīmes

help-add = Ierakstīt jaunu aktivitāti; tās id tiek izdrukāts, kad tā ir droši saglabāta
help-add--title = { -title }
help-add--kind = { -kind }
help-add--date = { -date }
help-add--start = { -start }
help-add--hours = { -hours }
help-add--place = { -place }
help-add--organisers = { -organisers }
help-add--institutions = { -institutions }
help-add--counts = { -counts }
help-add--description = { -description }
help-add--notes = { -notes }

help-edit = Mainīt norādītos aktivitātes laukus; pārējie paliek, kā bija
help-edit--id = Aktivitātes id (kā to izdrukā add vai list)
help-edit--title = { -title }
help-edit--kind = { -kind }
help-edit--date = { -date }
help-edit--start = { -start }
help-edit--hours = { -hours }
help-edit--place = { -place }
help-edit--organisers = { -organisers }
help-edit--institutions = { -institutions }
help-edit--counts = { -counts }
help-edit--description = { -description }
help-edit--notes = { -notes }

help-delete = Dzēst aktivitāti (to var atjaunot)
help-delete--id = Aktivitātes id
help-erase = Birojam: neatgriezeniski izdzēst aktivitāti privātuma dēļ no visiem datoriem un biroja servera (docs/ERASURE.md)
help-erase--id = Aktivitātes id
help-restore = Atsaukt dzēšanu
help-restore--id = Aktivitātes id

help-list = Aktivitāšu saraksts, jaunākās vispirms
help-list--json = Izdrukāt vienu JSON masīvu ar visiem laukiem
help-list--deleted = Tikai dzēstās aktivitātes (tās, ko restore var atjaunot)
help-list--all = Dzēstās un esošās aktivitātes kopā
help-list--all_centres = Visu centru aktivitātes ar centra nosaukumu (biroja datoros)
help-show = Parādīt visus vienas aktivitātes laukus
help-show--id = Aktivitātes id
help-show--json = Izdrukāt JSON
help-attach = Pievienot aktivitātei failus (JPEG vai PNG fotoattēlus, PDF skenējumus) kā pierādījumu finansētājiem
help-attach--id = Aktivitātes id
help-attach--files = Pievienojamie faili (katrs tiek glabāts tāds, kāds tas ir, nemainīts)
help-attachments = Aktivitātei pievienoto failu saraksts vai to kopiju saglabāšana
help-attachments--id = Aktivitātes id
help-attachments--json = Izdrukāt JSON
help-attachments--save = Saglabāt šajā mapē kopiju no katra faila (faili, kuru šajā datorā nav, vispirms tiek ielādēti no biroja servera)
help-detach = Noņemt failu no aktivitātes (ieraksts uz to vairs neatsaucas; kopija paliek, kamēr uz to atsaucas kāds cits ieraksts)
help-detach--id = Aktivitātes id
help-detach--attachment = Fails: tā nosaukums vai kods, kā to izdrukā attachments (pietiek ar pirmajām 12 rakstzīmēm)

help-export = Ierakstīt visas aktivitātes CSV vai JSON failā (vai standarta izvadē)
help-export--format = Faila formāts
help-export--out = Fails, kurā rakstīt [pēc noklusējuma: standarta izvade]
help-export--delimiter = CSV lauku atdalītājs [pēc noklusējuma: latviski semikols, kā to gaida Excel ar Latvijas reģionālajiem iestatījumiem; angliski komats]
help-export--lang = CSV kolonnu nosaukumu, veidu un skaitļu valoda [pēc noklusējuma: sistēmas valoda]
help-export--include_deleted = Iekļaut arī dzēstās aktivitātes
help-import = Pievienot aktivitātes no CSV vai JSON faila (kā to raksta export, vai no izklājlapas, kas saglabāta kā CSV)
help-import--file = Fails, ko lasīt
help-import--skip_invalid = Importēt labās rindas, pat ja dažas ir kļūdainas (kļūdainās tiek uzskaitītas)
help-import--dry_run = Pārbaudīt katru rindu un ziņot, bet neko nesaglabāt
help-import--update = Rindas, kuru id šeit jau ir ar citu saturu, atjaunina šo aktivitāti (bez šīs opcijas tās paliek, kā ir, un tiek uzskaitītas)

help-enrol = Pievienot šo datoru biroja serverim ar kodu, ko iedeva birojs
help-enrol--code = Pievienošanās kods (sākas ar KRC2-)
help-enrol--device_name = Šī datora nosaukums, ja žurnāla vēl nav [pēc noklusējuma: datora nosaukums]
help-sync = Sinhronizēt tagad: beidzas ar 0 tikai tad, kad viss šeit ir nosūtīts un viss serverī ir šeit
help-run = Darboties fonā: rādīt lietotni šajā datorā un sinhronizēt pašam, kad vien ir savienojums
help-run--web_port = Lietotnes ports adresē 127.0.0.1 (0: jebkurš brīvs ports)
help-run--no_web = Tikai sinhronizēt, bez lietotnes
help-run--silent_days = Birojam: brīdināt par centru pēc tik dienām bez veiksmīgas sinhronizācijas
help-health = Birojam: katra centra un datora sinhronizācijas stāvoklis (pēdējā veiksmīgā sinhronizācija, vēl nenosūtītās aktivitātes, klusie centri)
help-health--silent_days = Brīdināt par centru pēc tik dienām bez veiksmīgas sinhronizācijas
help-health--json = Izdrukāt JSON
help-open = Atvērt lietotni pārlūkā; ja field-client run nedarbojas, vispirms to palaist
help-service = Palaist lietotni un fona sinhronizāciju katrā pieteikšanās reizē, bez termināļa (Linux: systemd lietotāja pakalpojums un izvēlnes ieraksts „KRC žurnāls”)
help-service-install = Palaist tagad un katrā pieteikšanās reizē, palaist no jauna, ja apstājas, un pievienot „KRC žurnāls” izvēlnei
help-service-uninstall = Apturēt un izņemt no pieteikšanās un izvēlnes (žurnāls paliek, kur ir)
help-service-status = Pateikt, vai pakalpojums ir uzstādīts, palaižas pieteikoties un darbojas tagad

help-report = Pārskats partneriem un finansētājiem: aktivitātes, stundas, dalībnieki pa grupām un dažādās iestādes periodā, pa centriem un kopā
help-report--from = Perioda pirmā diena, GGGG-MM-DD (vai DD.MM.GGGG)
help-report--to = Perioda pēdējā diena (ieskaitot)
help-report--centre = Tikai šis centrs (pēc nosaukuma, kā to rāda list --all-centres)
help-report--municipality = Tikai šī novada centri (kā to iestatījis biroja serveris)
help-report--kind = Tikai šī veida aktivitātes
help-report--format = Faila formāts; zip: xlsx darbgrāmata un visi tās aktivitātēm pievienotie faili, finansētājam
help-report--out = Fails, kurā rakstīt [pēc noklusējuma: standarta izvade; xlsx un zip vajag failu]
help-report--lang = Faila kolonnu, lapu nosaukumu un vārdu valoda [pēc noklusējuma: sistēmas valoda]
help-data-plan = Iestatīt vai parādīt mēneša datu apjomu un maksas savienojuma režīmu (priekšapmaksas mobilajam internetam)
help-data-plan--budget = Mēneša apjoms: 200MB, 1.5GB, 750kB … vai "off"
help-data-plan--metered = "on": savienoties tikai, lai nosūtītu (un reizi stundā), nevis palikt savienotam
help-status = Parādīt centru, šo datoru un cik aktivitāšu vēl nav nosūtītas
help-status--json = Izdrukāt JSON
help-demo = Parādīt, ko programma dara: ierakstīt parauga aktivitātes jaunā mapē, tās uzskaitīt un eksportēt
help-demo--into = Mape demonstrācijas žurnālam [pēc noklusējuma: jauna pagaidu mape]
help-compact = Apvienot žurnāla pievienotās izmaiņas vienā momentuzņēmumā (notiek arī automātiski)
